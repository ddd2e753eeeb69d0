// Reading a filter's JSON configuration with errors that name the field: every failure carries
// the JSON Pointer of the offending value (`/rules/0/match/path`), and the first one wins.
// Unknown fields are errors too, so a typo is refused at configure time instead of ignored.
import { JsonValue, JsonKind, JsonLimits, NOT_WHOLE, parseJsonBytes } from "./json";
import { decimal, listText } from "./text";

export { listText };

export class ConfigError {
  constructor(
    public path: string,
    public message: string,
  ) {}
  toString(): string {
    return (this.path.length > 0 ? this.path : "/") + ": " + this.message;
  }
}

/** The first configuration error, or null; filled by the read helpers below. */
export class ConfigReader {
  error: ConfigError | null = null;

  ok(): bool {
    return this.error === null;
  }

  fail(path: string, message: string): void {
    if (this.error === null) this.error = new ConfigError(path, message);
  }

  /** Parses configuration bytes; the root must be an object. */
  parse(bytes: Uint8Array): JsonValue | null {
    return this.parseBytes(bytes.dataStart, bytes.length);
  }

  /** parse() for the `length` bytes at `ptr`. */
  parseBytes(ptr: usize, length: i32): JsonValue | null {
    const result = parseJsonBytes(ptr, length, new JsonLimits());
    if (!result.ok()) {
      const error = result.error!;
      this.fail(error.path, "invalid JSON at byte " + error.offset.toString() + ": " + error.message);
      return null;
    }
    const root = result.value!;
    if (root.kind != JsonKind.Object) {
      this.fail("", "expected an object");
      return null;
    }
    return root;
  }

  /** Fails on any key of `object` not in `allowed`. */
  onlyKeys(object: JsonValue, path: string, allowed: string[]): void {
    for (let i = 0; i < object.keys.length; i++) {
      const key = object.keys[i];
      if (!allowed.includes(key)) {
        this.fail(path + "/" + key, "unknown field; expected one of " + listText(allowed));
        return;
      }
    }
  }

  /** The member `key` of `object`, checked for `kind`; null when absent (fails if required). */
  member(object: JsonValue, path: string, key: string, kind: JsonKind, required: bool): JsonValue | null {
    const value = object.get(key);
    if (value === null) {
      if (required) this.fail(path + "/" + key, "is required");
      return null;
    }
    if (value.kind != kind) {
      this.fail(path + "/" + key, "expected " + kindName(kind) + ", got " + kindName(value.kind));
      return null;
    }
    return value;
  }

  string(object: JsonValue, path: string, key: string, required: bool, fallback: string = ""): string {
    const value = this.member(object, path, key, JsonKind.String, required);
    return value === null ? fallback : value.str;
  }

  /** A string of 1–64 characters from [A-Za-z0-9_-]: safe as a metric tag and a log prefix. */
  identifier(object: JsonValue, path: string, key: string, required: bool, fallback: string = ""): string {
    const value = this.string(object, path, key, required, fallback);
    if (this.ok() && (object.get(key) !== null || required) && !isIdentifier(value)) {
      this.fail(path + "/" + key, "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'");
    }
    return value;
  }

  number(object: JsonValue, path: string, key: string, required: bool, fallback: f64 = 0): f64 {
    const value = this.member(object, path, key, JsonKind.Number, required);
    return value === null ? fallback : value.number();
  }

  /** A whole number within [min, max] (both within ±10^18), read exactly from its text. */
  integer(
    object: JsonValue,
    path: string,
    key: string,
    required: bool,
    min: i64,
    max: i64,
    fallback: i64 = 0,
  ): i64 {
    const value = this.member(object, path, key, JsonKind.Number, required);
    if (value === null) return fallback;
    const n = value.wholeNumber();
    if (n == NOT_WHOLE || n < min || n > max) {
      this.fail(path + "/" + key, "expected a whole number from " + decimal(min) + " to " + decimal(max));
      return fallback;
    }
    return n;
  }

  boolean(object: JsonValue, path: string, key: string, required: bool, fallback: bool = false): bool {
    const value = this.member(object, path, key, JsonKind.Boolean, required);
    return value === null ? fallback : value.bool;
  }

  object(object: JsonValue, path: string, key: string, required: bool): JsonValue | null {
    return this.member(object, path, key, JsonKind.Object, required);
  }

  array(object: JsonValue, path: string, key: string, required: bool): JsonValue | null {
    return this.member(object, path, key, JsonKind.Array, required);
  }

  /**
   * The member `key` as a list of objects, at most `max` (0: no limit), each item checked; null
   * when absent or wrong. Item i's JSON Pointer is `<path>/<key>/<i>`.
   */
  objects(object: JsonValue, path: string, key: string, required: bool, max: i32 = 0): JsonValue[] | null {
    const array = this.array(object, path, key, required);
    if (array === null) return null;
    if (max > 0 && array.items.length > max) {
      this.fail(path + "/" + key, "at most " + max.toString() + " " + key);
      return null;
    }
    for (let i = 0; i < array.items.length; i++) {
      if (array.items[i].kind != JsonKind.Object) {
        this.fail(path + "/" + key + "/" + i.toString(), "expected an object");
        return null;
      }
    }
    return array.items;
  }

  /** Fails when `name` is already in `names` (a list's unique names); adds it otherwise. */
  unique(names: Set<string>, name: string, path: string, what: string): void {
    if (names.has(name)) this.fail(path, "duplicate " + what + ' "' + name + '"');
    else names.add(name);
  }

  /** An array of strings; each element is checked. */
  strings(object: JsonValue, path: string, key: string, required: bool): string[] {
    const result: string[] = [];
    const array = this.array(object, path, key, required);
    if (array === null) return result;
    for (let i = 0; i < array.items.length; i++) {
      const item = array.items[i];
      if (item.kind != JsonKind.String) {
        this.fail(path + "/" + key + "/" + i.toString(), "expected a string");
        return result;
      }
      result.push(item.str);
    }
    return result;
  }

  /** One of `choices`. */
  choice(
    object: JsonValue,
    path: string,
    key: string,
    required: bool,
    choices: string[],
    fallback: string,
  ): string {
    const value = this.string(object, path, key, required, fallback);
    if (this.ok() && !choices.includes(value)) {
      this.fail(path + "/" + key, "expected one of " + listText(choices) + ', got "' + value + '"');
    }
    return value;
  }
}

export function kindName(kind: JsonKind): string {
  switch (kind) {
    case JsonKind.Null:
      return "null";
    case JsonKind.Boolean:
      return "a boolean";
    case JsonKind.Number:
      return "a number";
    case JsonKind.String:
      return "a string";
    case JsonKind.Array:
      return "an array";
    default:
      return "an object";
  }
}

export function isIdentifier(value: string): bool {
  if (value.length == 0 || value.length > 64) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45;
    if (!ok) return false;
  }
  return true;
}
