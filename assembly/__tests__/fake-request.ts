// A request for the filters' as-pect tests: the RequestView filter logic reads, with headers
// (repeatable, first value wins), method, path and client address set by the test.
import { RequestView } from "../request";

export class FakeRequest extends RequestView {
  names: string[] = [];
  values: string[] = [];
  address: string | null = "127.0.0.1:40000";

  constructor(
    public m: string,
    public p: string,
  ) {
    super();
  }

  with(name: string, value: string): FakeRequest {
    this.names.push(name);
    this.values.push(value);
    return this;
  }

  from(address: string | null): FakeRequest {
    this.address = address;
    return this;
  }

  method(): string {
    return this.m;
  }

  path(): string {
    return this.p;
  }

  header(name: string): string | null {
    const i = this.names.indexOf(name);
    return i < 0 ? null : this.values[i];
  }

  headerValues(name: string): string[] {
    if (name.length == 0) return this.values;
    const out: string[] = [];
    for (let i = 0; i < this.names.length; i++) if (this.names[i] == name) out.push(this.values[i]);
    return out;
  }

  sourceAddressBytes(): ArrayBuffer | null {
    const address = this.address;
    return address === null ? null : String.UTF8.encode(address);
  }
}
