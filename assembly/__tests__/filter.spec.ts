// GraftRootContext (../filter) against the fake host: reading the configuration buffer, the
// injection id the SDK takes out of it, and a refused configuration keeping the previous one.
import { BufferTypeValues } from "@solo-io/proxy-runtime/assembly";
import { ConfigReader } from "../config";
import { DEFAULT_INJECTION_ID, GraftRootContext } from "../filter";
import { JsonValue } from "../json";
import { FilterMetrics, increment } from "../metrics";
import { logged, metricValue, resetHost, setBuffer } from "./fake-host";

/** A filter with one field, `limit` (a number from 1), and a counter. */
class TestRoot extends GraftRootContext {
  limit: f64 = 0;
  seenKeys: string = "";
  configured: u32 = 0;

  constructor() {
    super(1, "test-filter");
  }

  configure(reader: ConfigReader, root: JsonValue, metrics: FilterMetrics): void {
    this.seenKeys = root.keys.join(",");
    reader.onlyKeys(root, "", ["limit"]);
    const limit = reader.number(root, "", "limit", true);
    if (reader.ok() && limit < 1) reader.fail("/limit", "must be at least 1");
    if (!reader.ok()) return;
    this.limit = limit;
    this.configured = metrics.counter("configured_total");
  }
}

function configure(root: TestRoot, json: string): bool {
  setBuffer(BufferTypeValues.PluginConfiguration, json);
  return root.onConfigure(String.UTF8.byteLength(json));
}

describe("GraftRootContext configuration", () => {
  beforeEach(() => {
    resetHost();
  });

  test("reads the configuration; the injection id is the SDK's, removed before the filter reads", () => {
    const root = new TestRoot();
    expect(configure(root, '{"injection_id":"canary-1","limit":5}')).toBe(true);
    expect(root.limit).toBe(5);
    expect(root.injection).toBe("canary-1");
    expect(root.seenKeys).toBe("limit", "the filter never sees injection_id");
    expect(root.metrics.injection).toBe("canary-1");
    increment(root.configured);
    expect(metricValue("filter=.=test-filter;.;injection=.=canary-1;.;graft.configured_total")).toBe(1);
    expect(logged()).toBe("2: test-filter[canary-1]: configured\n");
  });

  test("without injection_id the injection is the default", () => {
    const root = new TestRoot();
    expect(configure(root, '{"limit":2}')).toBe(true);
    expect(root.injection).toBe(DEFAULT_INJECTION_ID);
    expect(root.metrics.injection).toBe(DEFAULT_INJECTION_ID);
  });

  test("a refused configuration keeps the previous one, injection id, metrics and logger included", () => {
    const root = new TestRoot();
    expect(configure(root, '{"injection_id":"v1","limit":3}')).toBe(true);
    resetHost();
    expect(configure(root, '{"injection_id":"v2","limit":0}')).toBe(false);
    expect(root.limit).toBe(3);
    expect(root.injection).toBe("v1");
    expect(root.metrics.injection).toBe("v1");
    expect(logged()).toBe("4: test-filter[v1]: invalid configuration: /limit: must be at least 1\n");
  });

  test("refusals name the field: the filter's own, unknown fields, a bad injection id, bad JSON", () => {
    const root = new TestRoot();
    expect(configure(root, '{"limit":"x"}')).toBe(false);
    expect(configure(root, '{"limit":1,"other":true}')).toBe(false);
    expect(configure(root, '{"injection_id":"has space","limit":1}')).toBe(false);
    expect(configure(root, "{not json")).toBe(false);
    expect(configure(root, "[1]")).toBe(false);
    const lines = logged().split("\n");
    expect(lines[0].startsWith("4: test-filter[static]: invalid configuration: /limit: expected")).toBe(
      true,
      lines[0],
    );
    expect(lines[1].startsWith("4: test-filter[static]: invalid configuration: /other: unknown field")).toBe(
      true,
      lines[1],
    );
    expect(lines[2].startsWith("4: test-filter[static]: invalid configuration: /injection_id")).toBe(
      true,
      lines[2],
    );
    expect(lines[3].indexOf("invalid JSON") >= 0).toBe(true, lines[3]);
    expect(lines[4].indexOf("expected an object") >= 0).toBe(true, lines[4]);
    expect(root.limit).toBe(0, "never configured");
  });

  test("an empty configuration is refused (the filter's required field), not an abort", () => {
    const root = new TestRoot();
    expect(root.onConfigure(0)).toBe(false);
  });
});
