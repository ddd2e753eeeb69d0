// A header map as Envoy keeps one: ordered entries with lowercase names, duplicates allowed.
// get returns the first value, add appends an entry, replace drops every entry of the name and
// appends one, remove drops them all (Envoy's getHeaderMapValue, addCopy, setCopy, remove).
//
// Names and values are byte-exact: each is held as a "byte string", one character per byte
// (latin1, code points 0-255), which is also how Node's HTTP client sends header strings and how
// its server and client show received ones. So a raw byte like 0xE9 travels as "\u00e9" and reaches
// the module as that one byte, as it does through Envoy. A string given with a character above
// U+00FF cannot be latin1, so it is taken as text and stored as its UTF-8 bytes; a Uint8Array is
// taken as the bytes themselves. getText() decodes a value as UTF-8, getBytes() gives the bytes.

export type HeaderValueInput = string | Uint8Array;
export type HeaderInput =
  | Record<string, HeaderValueInput | readonly HeaderValueInput[]>
  | readonly (readonly [string, HeaderValueInput])[];

const NOT_LATIN1 = /[^\x00-\xff]/;
const utf8 = new TextDecoder("utf-8", { fatal: false });

/** The byte string (one char per byte) of a header name or value given as text or bytes. */
export function byteString(value: HeaderValueInput): string {
  if (typeof value !== "string")
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("latin1");
  return NOT_LATIN1.test(value) ? Buffer.from(value, "utf8").toString("latin1") : value;
}

/** Lowercases A-Z only, as Envoy's LowerCaseString (absl::AsciiStrToLower): other bytes stay. */
export function asciiLower(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (upper) => upper.toLowerCase()) : name;
}

/** The bytes of a byte string. */
export function byteStringBytes(value: string): Uint8Array {
  return Buffer.from(value, "latin1");
}

/** A byte string decoded as UTF-8 (invalid sequences become U+FFFD). */
export function byteStringText(value: string): string {
  return utf8.decode(Buffer.from(value, "latin1"));
}

export class HeaderMap {
  names: string[] = [];
  values: string[] = [];

  static from(input: HeaderInput | undefined): HeaderMap {
    const map = new HeaderMap();
    if (input) map.addAll(input);
    return map;
  }

  addAll(input: HeaderInput): void {
    if (Array.isArray(input)) {
      for (const [name, value] of input as readonly (readonly [string, HeaderValueInput])[])
        this.add(asciiLower(name), value);
      return;
    }
    for (const [name, value] of Object.entries(
      input as Record<string, HeaderValueInput | readonly HeaderValueInput[]>,
    )) {
      if (typeof value === "string" || value instanceof Uint8Array) this.add(asciiLower(name), value);
      else for (const item of value) this.add(asciiLower(name), item);
    }
  }

  get size(): number {
    return this.names.length;
  }

  /** The first value of `name` (lowercase), or undefined. */
  get(name: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i];
    return undefined;
  }

  /** The first value of `name` as bytes, or undefined. */
  getBytes(name: string): Uint8Array | undefined {
    const value = this.get(name);
    return value === undefined ? undefined : byteStringBytes(value);
  }

  /** The first value of `name` decoded as UTF-8, or undefined. */
  getText(name: string): string | undefined {
    const value = this.get(name);
    return value === undefined ? undefined : byteStringText(value);
  }

  has(name: string): boolean {
    return this.names.indexOf(name) >= 0;
  }

  /** Appends an entry; text with characters above U+00FF is stored as its UTF-8 bytes. */
  add(name: string, value: HeaderValueInput): void {
    this.names.push(typeof name === "string" && !NOT_LATIN1.test(name) ? name : byteString(name));
    this.values.push(typeof value === "string" && !NOT_LATIN1.test(value) ? value : byteString(value));
  }

  replace(name: string, value: HeaderValueInput): void {
    this.remove(name);
    this.add(name, value);
  }

  remove(name: string): void {
    const names = this.names;
    if (names.indexOf(name) < 0) return;
    const keptNames: string[] = [];
    const keptValues: string[] = [];
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== name) {
        keptNames.push(names[i]!);
        keptValues.push(this.values[i]!);
      }
    }
    this.names = keptNames;
    this.values = keptValues;
  }

  /** Sum of name and value lengths in bytes, as Envoy's HeaderMap::byteSize. */
  byteSize(): number {
    let size = 0;
    for (let i = 0; i < this.names.length; i++) size += this.names[i]!.length + this.values[i]!.length;
    return size;
  }

  pairs(): [string, string][] {
    return this.names.map((name, i) => [name, this.values[i]!]);
  }

  clone(): HeaderMap {
    const copy = new HeaderMap();
    copy.names = this.names.slice();
    copy.values = this.values.slice();
    return copy;
  }

  /**
   * One value per name, as a Node HTTP server (the echo upstream) or client sees a message:
   * repeated headers joined with ", " (set-cookie too, for comparison). Pseudo-headers are left out.
   */
  toRecord(): Record<string, string> {
    const record: Record<string, string> = {};
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i]!;
      if (name.startsWith(":")) continue;
      record[name] = name in record ? `${record[name]}, ${this.values[i]}` : this.values[i]!;
    }
    return record;
  }
}
