// The base every graft filter's root context extends: reads and checks the JSON configuration,
// keeps the previous configuration when the new one is refused (Envoy then keeps the old filter
// too), and gives the filter its logger and metrics, both labelled with filter and injection.
import { RootContext, BufferTypeValues } from "@solo-io/proxy-runtime/assembly";
import { JsonValue } from "./json";
import { ConfigReader } from "./config";
import { getBufferBytes } from "./host";
import { Logger } from "./log";
import { FilterMetrics } from "./metrics";

export const INJECTION_ID_FIELD = "injection_id";
export const DEFAULT_INJECTION_ID = "static";

/** Drops `key` from an object, so the filter's own reader does not see a field the SDK handled. */
function removeMember(object: JsonValue, key: string): void {
  const keys = object.keys;
  const values = object.values;
  const at = keys.indexOf(key);
  if (at < 0) return;
  const last = keys.length - 1;
  for (let i = at; i < last; i++) {
    unchecked((keys[i] = keys[i + 1]));
    unchecked((values[i] = values[i + 1]));
  }
  keys.length = last;
  values.length = last;
}

export abstract class GraftRootContext extends RootContext {
  injection: string = DEFAULT_INJECTION_ID;
  log: Logger;
  metrics: FilterMetrics;

  constructor(
    context_id: u32,
    public filter: string,
  ) {
    super(context_id);
    this.log = new Logger(filter, DEFAULT_INJECTION_ID);
    this.metrics = new FilterMetrics(filter, DEFAULT_INJECTION_ID);
  }

  /**
   * Reads the filter's own fields from `root` into a new configuration, and makes it active only
   * when `reader.ok()` at the end. The shared fields (injection_id) are read by the SDK and are no
   * longer in `root`: a filter lists only its own fields.
   */
  abstract configure(reader: ConfigReader, root: JsonValue, metrics: FilterMetrics): void; // metrics.injection is the new injection id

  onConfigure(configuration_size: u32): bool {
    const bytes = getBufferBytes(BufferTypeValues.PluginConfiguration, 0, configuration_size);
    const reader = new ConfigReader();
    const root = reader.parseBytes(changetype<usize>(bytes), bytes.byteLength);
    let injection = this.injection;
    if (root !== null) {
      injection = reader.identifier(root, "", INJECTION_ID_FIELD, false, DEFAULT_INJECTION_ID);
      removeMember(root, INJECTION_ID_FIELD);
    }
    const metrics = new FilterMetrics(this.filter, injection);
    if (root !== null && reader.ok()) this.configure(reader, root, metrics);
    if (!reader.ok()) {
      this.log.error("invalid configuration: " + reader.error!.toString());
      return false;
    }
    this.injection = injection;
    this.metrics = metrics;
    this.log = new Logger(this.filter, injection);
    this.log.refreshLevel();
    this.log.info("configured");
    return true;
  }
}
