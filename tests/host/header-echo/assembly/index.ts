// header-echo: a probe module for the emulator/Envoy parity tests (tests/host/parity.test.ts), not a
// filter. It shows the client what a filter sees of the request headers: each header named in
// `echo` comes back on the response as `x-seen-<name>: [<first value>]` (`[]` when absent), and
// the header named in `quote` goes upstream as `x-quoted-up: <value>` and back as
// `x-quoted: <value>`, byte for byte (values are read and written as raw bytes, never decoded).
// Every request it sees counts in graft.requests_total, so a test can tell whether it ran.
export {
  malloc,
  free,
  proxy_abi_version_0_2_1,
  proxy_on_vm_start,
  proxy_validate_configuration,
  proxy_on_configure,
  proxy_on_context_create,
  proxy_on_request_headers,
  proxy_on_response_headers,
  proxy_on_delete,
} from "../../../../assembly/exports";
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { WasmResultValues } from "@solo-io/proxy-runtime/assembly";
import {
  ConfigReader,
  FilterHeadersStatusValues,
  FilterMetrics,
  GraftRootContext,
  GraftStream,
  HeaderMapTypeValues,
  JsonValue,
  RootContext,
  increment,
  registerFilter,
} from "../../../../assembly";

const ROOT_ID = "header-echo";

const valueSlot = memory.data(8);

/** The first value of header `name` as the bytes the host gives, or null when absent. */
function headerBytes(map: HeaderMapTypeValues, name: string): ArrayBuffer | null {
  const key = String.UTF8.encode(name);
  store<u64>(valueSlot, 0);
  const result = imports.proxy_get_header_map_value(
    map,
    changetype<usize>(key),
    key.byteLength,
    valueSlot,
    valueSlot + 4,
  );
  const data = load<u32>(valueSlot);
  let value: ArrayBuffer | null = null;
  if (data != 0) {
    value = changetype<ArrayBuffer>(<usize>data);
    __unpin(<usize>data);
  }
  if (result != WasmResultValues.Ok) return null;
  return value === null ? new ArrayBuffer(0) : value;
}

/** `open` + `value` + `close` as bytes. */
function wrapped(open: string, value: ArrayBuffer | null, close: string): ArrayBuffer {
  const head = String.UTF8.encode(open);
  const tail = String.UTF8.encode(close);
  const size = value === null ? 0 : value.byteLength;
  const out = new ArrayBuffer(head.byteLength + size + tail.byteLength);
  const base = changetype<usize>(out);
  memory.copy(base, changetype<usize>(head), head.byteLength);
  if (value !== null) memory.copy(base + head.byteLength, changetype<usize>(value), size);
  memory.copy(base + head.byteLength + size, changetype<usize>(tail), tail.byteLength);
  return out;
}

function setBytes(map: HeaderMapTypeValues, name: string, value: ArrayBuffer): void {
  const key = String.UTF8.encode(name);
  imports.proxy_replace_header_map_value(
    map,
    changetype<usize>(key),
    key.byteLength,
    changetype<usize>(value),
    value.byteLength,
  );
}

class EchoRoot extends GraftRootContext {
  echo: string[] = [];
  quote: string = "";
  requests: u32 = 0;

  constructor(context_id: u32) {
    super(context_id, ROOT_ID);
  }

  configure(reader: ConfigReader, root: JsonValue, metrics: FilterMetrics): void {
    reader.onlyKeys(root, "", ["echo", "quote"]);
    const echo = reader.strings(root, "", "echo", false);
    const quote = reader.string(root, "", "quote", false, "");
    if (!reader.ok()) return;
    this.echo = echo;
    this.quote = quote;
    this.requests = metrics.counter("requests_total");
  }

  createContext(context_id: u32): EchoStream {
    return new EchoStream(context_id, this);
  }
}

class EchoStream extends GraftStream<EchoRoot> {
  seen: ArrayBuffer[] = [];
  quoted: ArrayBuffer | null = null;

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const root = this.root;
    increment(root.requests);
    for (let i = 0; i < root.echo.length; i++) {
      this.seen.push(wrapped("[", headerBytes(HeaderMapTypeValues.RequestHeaders, root.echo[i]), "]"));
    }
    if (root.quote.length > 0) {
      const quoted = wrapped("<", headerBytes(HeaderMapTypeValues.RequestHeaders, root.quote), ">");
      setBytes(HeaderMapTypeValues.RequestHeaders, "x-quoted-up", quoted);
      this.quoted = quoted;
    }
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const root = this.root;
    for (let i = 0; i < this.seen.length; i++) {
      setBytes(HeaderMapTypeValues.ResponseHeaders, "x-seen-" + root.echo[i], this.seen[i]);
    }
    const quoted = this.quoted;
    if (quoted !== null) setBytes(HeaderMapTypeValues.ResponseHeaders, "x-quoted", quoted);
    return FilterHeadersStatusValues.Continue;
  }
}

registerFilter(ROOT_ID, (context_id: u32): RootContext => new EchoRoot(context_id));
