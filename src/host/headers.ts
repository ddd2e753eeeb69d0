// A header map as Envoy keeps one: ordered entries with lowercase names, duplicates allowed.
// get returns the first value, add appends an entry, replace drops every entry of the name and
// appends one, remove drops them all (Envoy's getHeaderMapValue, addCopy, setCopy, remove).

export type HeaderInput = Record<string, string | readonly string[]> | readonly (readonly [string, string])[];

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
      for (const [name, value] of input as readonly (readonly [string, string])[])
        this.add(name.toLowerCase(), value);
      return;
    }
    for (const [name, value] of Object.entries(input as Record<string, string | readonly string[]>)) {
      if (typeof value === "string") this.add(name.toLowerCase(), value);
      else for (const item of value) this.add(name.toLowerCase(), item);
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

  has(name: string): boolean {
    return this.names.indexOf(name) >= 0;
  }

  add(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }

  replace(name: string, value: string): void {
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

  /** Sum of name and value lengths, as Envoy's HeaderMap::byteSize (ASCII headers). */
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
