// The request as filters see it. Filter logic takes a RequestView, so it runs unchanged on Envoy's
// headers (EnvoyRequest) and on fakes in as-pect tests.
import { HeaderMapTypeValues, stream_context } from "@solo-io/proxy-runtime/assembly";
import { encodePropertyPath, getHeader, getPropertyEncoded } from "./host";

export abstract class RequestView {
  abstract method(): string;
  /** `:path` including any query string. */
  abstract path(): string;
  /** The first value of a header, or null when absent. Names are lowercase. */
  abstract header(name: string): string | null;
  /** Every value of the header `name` (all headers' values when `name` is ""). */
  headerValues(name: string): string[] {
    const value = this.header(name);
    return value === null ? [] : [value];
  }
  /** Envoy's `source.address` (`ip:port`) as bytes, or null. */
  sourceAddressBytes(): ArrayBuffer | null {
    return null;
  }
}

const SOURCE_ADDRESS = encodePropertyPath("source.address");

/**
 * The current request's headers in Envoy, read lazily and at most once per request: call reset()
 * when a request starts (onRequestHeaders), since one instance serves every stream of a worker.
 */
export class EnvoyRequest extends RequestView {
  private methodValue: string | null = null;
  private pathValue: string | null = null;
  private addressRead: bool = false;
  private addressValue: ArrayBuffer | null = null;
  private names: string[] | null = null;
  private values: string[] = [];

  reset(): void {
    this.methodValue = null;
    this.pathValue = null;
    this.addressRead = false;
    this.addressValue = null;
    this.names = null;
    this.values = [];
  }

  method(): string {
    if (this.methodValue === null) {
      const value = getHeader(HeaderMapTypeValues.RequestHeaders, ":method");
      this.methodValue = value === null ? "" : value;
    }
    return this.methodValue!;
  }

  path(): string {
    if (this.pathValue === null) {
      const value = getHeader(HeaderMapTypeValues.RequestHeaders, ":path");
      this.pathValue = value === null ? "" : value;
    }
    return this.pathValue!;
  }

  header(name: string): string | null {
    return getHeader(HeaderMapTypeValues.RequestHeaders, name);
  }

  // proxy_get_header_map_value returns only the first of repeated headers; this reads them all.
  headerValues(name: string): string[] {
    let names = this.names;
    if (names === null) {
      names = [];
      const pairs = stream_context.headers.request.get_headers();
      for (let i = 0; i < pairs.length; i++) {
        names.push(String.UTF8.decode(pairs[i].key));
        this.values.push(String.UTF8.decode(pairs[i].value));
      }
      this.names = names;
    }
    if (name.length == 0) return this.values;
    const out: string[] = [];
    for (let i = 0; i < names.length; i++) if (names[i] == name) out.push(this.values[i]);
    return out;
  }

  sourceAddressBytes(): ArrayBuffer | null {
    if (!this.addressRead) {
      this.addressRead = true;
      this.addressValue = getPropertyEncoded(SOURCE_ADDRESS);
    }
    return this.addressValue;
  }
}
