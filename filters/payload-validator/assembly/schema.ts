// payload-validator's JSON Schema subset: compiled at configure time into a tree of SchemaNodes,
// checked while the body streams through the SDK's JsonStreamParser. The validator keeps its own
// stack of schema positions, so nesting costs no Wasm stack and each byte is parsed once.
//
// Keywords: type (null, boolean, integer, number, string, array, object, or a list of them),
// properties, required, additionalProperties (boolean), items (one schema), enum and const
// (scalars), minLength/maxLength (code points), minimum/maximum/exclusiveMinimum/exclusiveMaximum
// (numbers, 2020-12 form), minItems/maxItems, minProperties/maxProperties. `true` and `false` are
// schemas too. Annotations (title, description, $schema, $id, $comment, default, examples,
// deprecated, readOnly, writeOnly) are ignored; any other keyword is refused, naming it.
import { ConfigReader, kindName, listText } from "../../../assembly/config";
import { decimal } from "../../../assembly/text";
import {
  JsonHandler,
  JsonKind,
  JsonLimits,
  JsonStreamParser,
  JsonValue,
  grownInts,
  keyPrint,
  numberValue,
  pointerToken,
  sameBytesAt,
} from "../../../assembly/json";
import { DenyRule, containsAt } from "./deny";
import {
  REASON_DENIED,
  REASON_INVALID_JSON,
  REASON_SCHEMA,
  Verdict,
  excerpt,
  pointerExcerpt,
} from "./problem";

export const T_NULL: i32 = 1;
export const T_BOOLEAN: i32 = 2;
export const T_INTEGER: i32 = 4;
export const T_NUMBER: i32 = 8;
export const T_STRING: i32 = 16;
export const T_ARRAY: i32 = 32;
export const T_OBJECT: i32 = 64;

const TYPE_NAMES: string[] = ["null", "boolean", "integer", "number", "string", "array", "object"];

const KEYWORDS: string[] = [
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "const",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
];
const ANNOTATIONS: string[] = [
  "title",
  "description",
  "$schema",
  "$id",
  "$comment",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
];

/** Required properties per object schema: tracked as bits of a u64. */
import { MAX_COUNT, MAX_REQUIRED } from "./contract.generated";

function typeBit(name: string): i32 {
  const i = TYPE_NAMES.indexOf(name);
  return i < 0 ? 0 : 1 << i;
}

/** "number", "string or null"… */
export function typeNames(types: i32): string {
  let out = "";
  for (let i = 0; i < TYPE_NAMES.length; i++) {
    if ((types & (1 << i)) == 0) continue;
    if (out.length > 0) out += " or ";
    out += TYPE_NAMES[i];
  }
  return out;
}

export class SchemaNode {
  /** The `false` schema: nothing is valid. */
  never: bool = false;
  /** Bits of T_*; 0 = any type. T_NUMBER admits integers too. */
  types: i32 = 0;
  /** Member names this schema knows: the declared properties first, then names only `required` lists. */
  names: string[] = [];
  /** The schema of each declared property (names[0, declared)); null past them. */
  children: Array<SchemaNode | null> = [];
  declared: i32 = 0;
  /** Per name: its bit in the required mask, or 0. */
  requiredBits: u64[] = [];
  /** The names as UTF-8, which is how the parser hands keys over. */
  nameBytes: ArrayBuffer[] = [];
  /** Per name: its byte length and keyPrint, compared before any byte. */
  nameLengths: StaticArray<i32> = new StaticArray<i32>(0);
  namePrints: StaticArray<u64> = new StaticArray<u64>(0);
  /** Open-addressing table of name index + 1 by hash, for objects with many names (a few are faster to scan). */
  table: StaticArray<i32> | null = null;
  /** Required names; bit i of an object's mask stands for required[i]. */
  required: string[] = [];
  additionalProperties: bool = true;
  items: SchemaNode | null = null;
  /** Scalars only (checked at configure time); null = no enum. */
  enumValues: JsonValue[] | null = null;
  /** enumValues split by kind, as the validator checks them; null = no enum. */
  allowed: AllowedValues | null = null;
  /** The values came from `const` (for the message). */
  isConst: bool = false;
  minLength: i64 = -1;
  maxLength: i64 = -1;
  hasMinimum: bool = false;
  minimum: f64 = 0;
  /** As the configuration writes it, for messages. */
  minimumText: string = "";
  hasMaximum: bool = false;
  maximum: f64 = 0;
  maximumText: string = "";
  hasExclusiveMinimum: bool = false;
  exclusiveMinimum: f64 = 0;
  exclusiveMinimumText: string = "";
  hasExclusiveMaximum: bool = false;
  exclusiveMaximum: f64 = 0;
  exclusiveMaximumText: string = "";
  minItems: i64 = -1;
  maxItems: i64 = -1;
  minProperties: i64 = -1;
  maxProperties: i64 = -1;

  /** Index of the name given as `length` UTF-8 bytes at `ptr`, or -1. */
  find(ptr: usize, length: i32): i32 {
    const names = this.nameBytes;
    const table = this.table;
    if (table === null) {
      // Few names: compared by length and keyPrint, which settle keys of up to 8 bytes.
      const print = keyPrint(ptr, length);
      const lengths = this.nameLengths;
      const prints = this.namePrints;
      for (let i = 0, n = lengths.length; i < n; i++) {
        if (unchecked(lengths[i]) != length || unchecked(prints[i]) != print) continue;
        if (length <= 8 || sameBytesAt(changetype<usize>(unchecked(names[i])), ptr, length)) return i;
      }
      return -1;
    }
    const mask = <u32>(table.length - 1);
    let slot = hashBytes(ptr, length) & mask;
    while (true) {
      const entry = unchecked(table[slot]);
      if (entry == 0) return -1;
      if (sameBytes(unchecked(names[entry - 1]), ptr, length)) return entry - 1;
      slot = (slot + 1) & mask;
    }
  }

  /** Encodes the names once they are all known; many get a hash table. */
  indexNames(): void {
    const names = this.names;
    const lengths = new StaticArray<i32>(names.length);
    const prints = new StaticArray<u64>(names.length);
    for (let i = 0; i < names.length; i++) {
      const bytes = String.UTF8.encode(names[i]);
      this.nameBytes.push(bytes);
      lengths[i] = bytes.byteLength;
      prints[i] = keyPrint(changetype<usize>(bytes), bytes.byteLength);
    }
    this.nameLengths = lengths;
    this.namePrints = prints;
    if (names.length <= 8) return;
    let size = 16;
    while (size < names.length * 2) size <<= 1;
    const table = new StaticArray<i32>(size);
    for (let i = 0; i < names.length; i++) {
      const bytes = this.nameBytes[i];
      let slot = hashBytes(changetype<usize>(bytes), bytes.byteLength) & (<u32>(size - 1));
      while (table[slot] != 0) slot = (slot + 1) & (<u32>(size - 1));
      table[slot] = i + 1;
    }
    this.table = table;
  }

  /** Bits of every required property. */
  requiredMask(): u64 {
    const n = this.required.length;
    return n == 0 ? 0 : n == 64 ? <u64>-1 : ((<u64>1) << n) - 1;
  }
}

// ---- Compiling (configure time) ----

function count(reader: ConfigReader, schema: JsonValue, path: string, key: string): i64 {
  return reader.integer(schema, path, key, false, 0, MAX_COUNT, -1);
}

function scalar(value: JsonValue): bool {
  return value.kind != JsonKind.Array && value.kind != JsonKind.Object;
}

/** Compiles `schema` (at `path` of the configuration); errors go to `reader`. */
export function compileSchema(reader: ConfigReader, schema: JsonValue, path: string): SchemaNode {
  const node = new SchemaNode();
  if (schema.kind == JsonKind.Boolean) {
    node.never = !schema.bool;
    return node;
  }
  if (schema.kind != JsonKind.Object) {
    reader.fail(path, "expected a schema (an object or a boolean), got " + kindName(schema.kind));
    return node;
  }
  for (let i = 0; i < schema.keys.length; i++) {
    const key = schema.keys[i];
    if (!KEYWORDS.includes(key) && !ANNOTATIONS.includes(key)) {
      reader.fail(
        path + "/" + pointerToken(key),
        "unsupported schema keyword; supported: " + listText(KEYWORDS),
      );
      return node;
    }
  }

  const type = schema.get("type");
  if (type !== null) {
    const typePath = path + "/type";
    if (type.kind == JsonKind.String) {
      node.types = typeBit(type.str);
      if (node.types == 0)
        reader.fail(typePath, 'unknown type "' + type.str + '"; expected one of ' + listText(TYPE_NAMES));
    } else if (type.kind == JsonKind.Array && type.items.length > 0) {
      for (let i = 0; i < type.items.length; i++) {
        const item = type.items[i];
        const bit = item.kind == JsonKind.String ? typeBit(item.str) : 0;
        if (bit == 0 || (node.types & bit) != 0) {
          reader.fail(
            typePath + "/" + i.toString(),
            "expected a type name, once each, from " + listText(TYPE_NAMES),
          );
          break;
        }
        node.types |= bit;
      }
    } else {
      reader.fail(typePath, "expected a type name or a non-empty list of them");
    }
  }

  const properties = reader.object(schema, path, "properties", false);
  if (properties !== null) {
    for (let i = 0; i < properties.keys.length && reader.ok(); i++) {
      const name = properties.keys[i];
      node.names.push(name);
      node.children.push(
        compileSchema(reader, properties.values[i], path + "/properties/" + pointerToken(name)),
      );
      node.requiredBits.push(0);
    }
    node.declared = node.names.length;
  }

  const required = reader.strings(schema, path, "required", false);
  if (required.length > MAX_REQUIRED)
    reader.fail(path + "/required", "at most " + MAX_REQUIRED.toString() + " names");
  for (let i = 0; i < required.length && reader.ok(); i++) {
    if (required.indexOf(required[i]) < i) {
      reader.fail(path + "/required/" + i.toString(), '"' + required[i] + '" is listed twice');
      break;
    }
    let at = node.names.indexOf(required[i]);
    if (at < 0) {
      at = node.names.length;
      node.names.push(required[i]);
      node.children.push(null);
      node.requiredBits.push(0);
    }
    node.requiredBits[at] = (<u64>1) << i;
  }
  node.required = required;
  node.indexNames();

  const additional = schema.get("additionalProperties");
  if (additional !== null) {
    if (additional.kind != JsonKind.Boolean) {
      reader.fail(path + "/additionalProperties", "expected a boolean (schemas are not supported here)");
    } else {
      node.additionalProperties = additional.bool;
    }
  }

  const items = schema.get("items");
  if (items !== null && reader.ok()) node.items = compileSchema(reader, items, path + "/items");

  const enumValues = reader.array(schema, path, "enum", false);
  if (enumValues !== null) {
    if (enumValues.items.length == 0) reader.fail(path + "/enum", "expected at least one value");
    for (let i = 0; i < enumValues.items.length; i++) {
      if (!scalar(enumValues.items[i])) {
        reader.fail(path + "/enum/" + i.toString(), "only strings, numbers, booleans and null are supported");
        break;
      }
    }
    node.enumValues = enumValues.items;
  }
  const constValue = schema.get("const");
  if (constValue !== null) {
    if (!scalar(constValue)) {
      reader.fail(path + "/const", "only strings, numbers, booleans and null are supported");
    } else if (node.enumValues === null) {
      node.enumValues = [constValue];
      node.isConst = true;
    } else {
      // Both: only values in both are valid.
      const both: JsonValue[] = [];
      for (let i = 0; i < node.enumValues!.length; i++) {
        if (sameScalar(node.enumValues![i], constValue)) both.push(constValue);
      }
      node.enumValues = both;
      node.isConst = true;
    }
  }

  node.minLength = count(reader, schema, path, "minLength");
  node.maxLength = count(reader, schema, path, "maxLength");
  node.minItems = count(reader, schema, path, "minItems");
  node.maxItems = count(reader, schema, path, "maxItems");
  node.minProperties = count(reader, schema, path, "minProperties");
  node.maxProperties = count(reader, schema, path, "maxProperties");
  if (node.maxLength >= 0 && node.minLength > node.maxLength)
    reader.fail(path + "/minLength", "greater than maxLength");
  if (node.maxItems >= 0 && node.minItems > node.maxItems)
    reader.fail(path + "/minItems", "greater than maxItems");
  if (node.maxProperties >= 0 && node.minProperties > node.maxProperties) {
    reader.fail(path + "/minProperties", "greater than maxProperties");
  }

  const minimum = schema.get("minimum");
  if (minimum !== null) {
    node.hasMinimum = true;
    node.minimum = reader.number(schema, path, "minimum", true);
    node.minimumText = minimum.str;
  }
  const maximum = schema.get("maximum");
  if (maximum !== null) {
    node.hasMaximum = true;
    node.maximum = reader.number(schema, path, "maximum", true);
    node.maximumText = maximum.str;
  }
  const exclusiveMinimum = schema.get("exclusiveMinimum");
  if (exclusiveMinimum !== null) {
    node.hasExclusiveMinimum = true;
    node.exclusiveMinimum = reader.number(schema, path, "exclusiveMinimum", true);
    node.exclusiveMinimumText = exclusiveMinimum.str;
  }
  const exclusiveMaximum = schema.get("exclusiveMaximum");
  if (exclusiveMaximum !== null) {
    node.hasExclusiveMaximum = true;
    node.exclusiveMaximum = reader.number(schema, path, "exclusiveMaximum", true);
    node.exclusiveMaximumText = exclusiveMaximum.str;
  }
  if (node.hasMinimum && node.hasMaximum && node.minimum > node.maximum)
    reader.fail(path + "/minimum", "greater than maximum");
  if (node.enumValues !== null) node.allowed = new AllowedValues(node.enumValues!);
  return node;
}

/** The values of an enum or const, by kind: a value is looked for only among those of its own kind. */
export class AllowedValues {
  /** Strings as UTF-8, which is how the parser hands them over. */
  strings: ArrayBuffer[] = [];
  numbers: f64[] = [];
  trueAllowed: bool = false;
  falseAllowed: bool = false;
  nullAllowed: bool = false;

  constructor(values: JsonValue[]) {
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value.kind == JsonKind.String) this.strings.push(String.UTF8.encode(value.str));
      else if (value.kind == JsonKind.Number) this.numbers.push(value.number());
      else if (value.kind == JsonKind.Boolean) {
        if (value.bool) this.trueAllowed = true;
        else this.falseAllowed = true;
      } else this.nullAllowed = true;
    }
  }

  hasString(ptr: usize, length: i32): bool {
    const strings = this.strings;
    for (let i = 0; i < strings.length; i++) {
      if (sameBytes(unchecked(strings[i]), ptr, length)) return true;
    }
    return false;
  }

  hasNumber(value: f64): bool {
    return this.numbers.includes(value);
  }
}

/** Whether `bytes` equals the `length` bytes at `ptr`. */
@inline function sameBytes(bytes: ArrayBuffer, ptr: usize, length: i32): bool {
  return bytes.byteLength == length && sameBytesAt(changetype<usize>(bytes), ptr, length);
}

/** FNV-1a of `length` bytes at `ptr`. */
function hashBytes(ptr: usize, length: i32): u32 {
  let hash: u32 = 2166136261;
  for (let i = 0; i < length; i++) hash = (hash ^ (<u32>load<u8>(ptr + <usize>i))) * 16777619;
  return hash;
}

function sameScalar(a: JsonValue, b: JsonValue): bool {
  if (a.kind != b.kind) return false;
  if (a.kind == JsonKind.String) return a.str == b.str;
  if (a.kind == JsonKind.Number) return a.number() == b.number();
  if (a.kind == JsonKind.Boolean) return a.bool == b.bool;
  return true; // null
}

// ---- Validating (per request) ----

const FRAME_OBJECT: i32 = 1;
const FRAME_ARRAY: i32 = 2;

const MAX_SPARE_VALIDATORS: i32 = 64;
/** A validator whose buffers grew past this (a huge string or object) is left to the collector, not kept. */
const MAX_SPARE_BUFFER_BYTES: i32 = 16 << 10;

/** JSON options of a configuration: the compiled schema and the parser's limits. */
export class JsonOptions {
  /** null: any JSON document. */
  schema: SchemaNode | null = null;
  maxDepth: i32 = 32;
  rejectDuplicateKeys: bool = true;
  forbiddenKeys: string[] = [];
  /** forbiddenKeys as UTF-8. */
  forbiddenBytes: ArrayBuffer[] = [];
  /** Bit min(n, 63) set when a forbidden key is n bytes long: most keys are let through by length alone. */
  forbiddenLengths: u64 = 0;
  /**
   * Body deny rules, also matched against the decoded text of keys and strings that held escapes
   * (`\u0024{jndi:`). Text without escapes is the raw body itself, which the rules search as it streams.
   */
  deny: DenyRule[] = [];

  // Validators of finished bodies, reused: a request then allocates none of the parser's and
  // validator's dozen buffers and stacks. Bounded, so a burst does not pin its memory.
  private spare: JsonBodyValidator[] = [];

  /** A validator for a new body: a spare one, or a new one. */
  validator(): JsonBodyValidator {
    return this.spare.length > 0 ? this.spare.pop().reset() : new JsonBodyValidator(this);
  }

  /** Takes back the validator of a finished body. */
  recycle(validator: JsonBodyValidator): void {
    if (this.spare.length < MAX_SPARE_VALIDATORS && validator.bufferBytes() <= MAX_SPARE_BUFFER_BYTES) {
      this.spare.push(validator);
    }
  }

  forbid(keys: string[]): void {
    this.forbiddenKeys = keys;
    this.forbiddenBytes = keys.map<ArrayBuffer>((key: string) => String.UTF8.encode(key));
    this.forbiddenLengths = 0;
    for (let i = 0; i < this.forbiddenBytes.length; i++) {
      this.forbiddenLengths |= (<u64>1) << min(<u64>this.forbiddenBytes[i].byteLength, 63);
    }
  }
}

/**
 * The parser's event handler: checks each value against the schema position it sits at. Frames are
 * parallel arrays (object or array, its schema, members or items so far, required bits seen, the
 * current key or index), so a body of any shape costs no recursion.
 */
export class SchemaValidator extends JsonHandler {
  /** Set with `error` when this handler (not the parser) refused: REASON_SCHEMA or REASON_DENIED. */
  reason: string = "";
  /** JSON Pointer of the offending value. */
  pointer: string = "";

  // Frames [0, depth): kind, schema, members or items so far, required bits seen. Plain arrays
  // grown in steps, so opening and closing a container only writes slots.
  private depth: i32 = 0;
  private kinds: StaticArray<i32> = new StaticArray<i32>(8);
  private nodes: StaticArray<SchemaNode | null> = new StaticArray<SchemaNode | null>(8);
  private counts: StaticArray<i32> = new StaticArray<i32>(8);
  private seen: StaticArray<u64> = new StaticArray<u64>(8);
  /** The schema the next value must satisfy (null: anything). */
  private next: SchemaNode | null;

  constructor(private options: JsonOptions) {
    super();
    this.next = options.schema;
  }

  reset(): void {
    this.reason = "";
    this.pointer = "";
    this.error = "";
    for (let i = 0; i < this.depth; i++) unchecked((this.nodes[i] = null));
    this.depth = 0;
    this.next = this.options.schema;
  }

  // The parser's containers are this validator's frames: its pointer names the frames [0, depth).
  private refuse(reason: string, depth: i32, message: string): bool {
    this.reason = reason;
    this.pointer = this.position!.pointer(depth);
    this.error = message;
    return false;
  }

  /** A value starts: in an array it is the next item. Returns its schema (null: anything). */
  private beginValue(): bool {
    const top = this.depth - 1;
    if (top < 0 || unchecked(this.kinds[top]) != FRAME_ARRAY) return true;
    const n = unchecked(this.counts[top]) + 1;
    unchecked((this.counts[top] = n));
    const node = unchecked(this.nodes[top]);
    if (node === null) {
      this.next = null;
      return true;
    }
    if (node.maxItems >= 0 && <i64>n > node.maxItems) {
      return this.refuse(REASON_SCHEMA, top, "more than " + decimal(node.maxItems) + " items");
    }
    this.next = node.items;
    return true;
  }

  private checkType(node: SchemaNode, type: i32, integer: bool): bool {
    if (node.never) return this.refuse(REASON_SCHEMA, this.depth, "no value is allowed here");
    if (node.types == 0 || (node.types & type) != 0) return true;
    if (integer && (node.types & T_INTEGER) != 0) return true;
    const got = type == T_NUMBER && integer ? T_INTEGER : type;
    return this.refuse(
      REASON_SCHEMA,
      this.depth,
      "expected " + typeNames(node.types) + ", got " + typeNames(got),
    );
  }

  private notInEnum(node: SchemaNode): bool {
    return this.refuse(
      REASON_SCHEMA,
      this.depth,
      node.isConst ? "not the constant value" : "not one of the allowed values",
    );
  }

  private push(kind: i32, node: SchemaNode | null): void {
    const top = this.depth;
    if (top == this.kinds.length) this.grow();
    unchecked((this.kinds[top] = kind));
    unchecked((this.nodes[top] = node));
    unchecked((this.counts[top] = 0));
    unchecked((this.seen[top] = 0));
    this.depth = top + 1;
  }

  private grow(): void {
    const capacity = this.kinds.length << 1;
    this.kinds = grownInts(this.kinds, capacity);
    this.counts = grownInts(this.counts, capacity);
    const nodes = new StaticArray<SchemaNode | null>(capacity);
    const seen = new StaticArray<u64>(capacity);
    for (let i = 0; i < this.depth; i++) {
      nodes[i] = this.nodes[i];
      seen[i] = this.seen[i];
    }
    this.nodes = nodes;
    this.seen = seen;
  }

  private pop(): void {
    this.depth--;
  }

  private startContainer(kind: i32, type: i32): bool {
    if (!this.beginValue()) return false;
    const node = this.next;
    if (node !== null) {
      if (!this.checkType(node, type, false)) return false;
      if (node.allowed !== null) return this.notInEnum(node);
    }
    this.push(kind, node);
    return true;
  }

  onStartObject(): bool {
    return this.startContainer(FRAME_OBJECT, T_OBJECT);
  }

  onStartArray(): bool {
    return this.startContainer(FRAME_ARRAY, T_ARRAY);
  }

  onKey(ptr: usize, length: i32, escaped: bool): bool {
    const top = this.depth - 1;
    // Properties are counted by name, as JSON parsers see them; every occurrence of a repeated
    // key is still checked below (see "Duplicate keys" in the README).
    const n = unchecked(this.counts[top]) + (this.position!.keyRepeats ? 0 : 1);
    unchecked((this.counts[top] = n));
    const options = this.options;
    if ((options.forbiddenLengths >> min(<u64>length, 63)) & 1) {
      const forbidden = options.forbiddenBytes;
      for (let i = 0; i < forbidden.length; i++) {
        if (sameBytes(unchecked(forbidden[i]), ptr, length))
          return this.refuse(REASON_SCHEMA, top + 1, "forbidden key");
      }
    }
    if (escaped && !this.denied(ptr, length, top + 1)) return false;
    const node = unchecked(this.nodes[top]);
    if (node === null) {
      this.next = null;
      return true;
    }
    if (node.maxProperties >= 0 && <i64>n > node.maxProperties) {
      return this.refuse(REASON_SCHEMA, top, "more than " + decimal(node.maxProperties) + " properties");
    }
    const at = node.find(ptr, length);
    if (at >= 0) {
      unchecked((this.seen[top] = unchecked(this.seen[top]) | unchecked(node.requiredBits[at])));
      if (at < node.declared) {
        this.next = unchecked(node.children[at]);
        return true;
      }
    }
    if (!node.additionalProperties) return this.refuse(REASON_SCHEMA, top + 1, "property not allowed");
    this.next = null;
    return true;
  }

  onEndObject(): bool {
    const top = this.depth - 1;
    const node = unchecked(this.nodes[top]);
    if (node !== null) {
      const seen = unchecked(this.seen[top]);
      const all = node.requiredMask();
      if (seen != all) {
        for (let i = 0; i < node.required.length; i++) {
          if ((seen & ((<u64>1) << i)) == 0) {
            return this.refuse(
              REASON_SCHEMA,
              top,
              'missing required property "' + excerpt(node.required[i]) + '"',
            );
          }
        }
      }
      if (node.minProperties >= 0 && <i64>unchecked(this.counts[top]) < node.minProperties) {
        return this.refuse(REASON_SCHEMA, top, "fewer than " + decimal(node.minProperties) + " properties");
      }
    }
    this.pop();
    return true;
  }

  onEndArray(): bool {
    const top = this.depth - 1;
    const node = unchecked(this.nodes[top]);
    if (node !== null && node.minItems >= 0 && <i64>unchecked(this.counts[top]) < node.minItems) {
      return this.refuse(REASON_SCHEMA, top, "fewer than " + decimal(node.minItems) + " items");
    }
    this.pop();
    return true;
  }

  /** Decoded text of a key or string that held escapes, against the body deny rules. */
  private denied(ptr: usize, length: i32, depth: i32): bool {
    const rules = this.options.deny;
    for (let i = 0; i < rules.length; i++) {
      const rule = unchecked(rules[i]);
      if (containsAt(ptr, length, rule.bytes)) return this.refuse(REASON_DENIED, depth, rule.describe());
    }
    return true;
  }

  onString(ptr: usize, length: i32, escaped: bool): bool {
    if (!this.beginValue()) return false;
    if (escaped && !this.denied(ptr, length, this.depth)) return false;
    const node = this.next;
    if (node === null) return true;
    if (!this.checkType(node, T_STRING, false)) return false;
    const allowed = node.allowed;
    if (allowed !== null && !allowed.hasString(ptr, length)) return this.notInEnum(node);
    if (node.minLength >= 0 || node.maxLength >= 0) {
      // UTF-8 bytes ≥ code points: count only when the byte count cannot decide.
      const bytes = <i64>length;
      let points = bytes;
      if (
        (node.maxLength >= 0 && bytes > node.maxLength) ||
        (node.minLength > 0 && bytes >= node.minLength)
      ) {
        points = codePoints(ptr, length);
      }
      if (node.minLength >= 0 && points < node.minLength) {
        return this.refuse(
          REASON_SCHEMA,
          this.depth,
          "shorter than " + decimal(node.minLength) + " characters",
        );
      }
      if (node.maxLength >= 0 && points > node.maxLength) {
        return this.refuse(
          REASON_SCHEMA,
          this.depth,
          "longer than " + decimal(node.maxLength) + " characters",
        );
      }
    }
    return true;
  }

  onNumber(ptr: usize, length: i32): bool {
    if (!this.beginValue()) return false;
    const node = this.next;
    if (node === null) return true;
    const value = numberValue(ptr, length);
    const integer = value == Math.floor(value);
    if (!this.checkType(node, T_NUMBER, integer)) return false;
    const allowed = node.allowed;
    if (allowed !== null && !allowed.hasNumber(value)) return this.notInEnum(node);
    const depth = this.depth;
    if (node.hasMinimum && value < node.minimum)
      return this.refuse(REASON_SCHEMA, depth, "less than minimum " + node.minimumText);
    if (node.hasMaximum && value > node.maximum)
      return this.refuse(REASON_SCHEMA, depth, "greater than maximum " + node.maximumText);
    if (node.hasExclusiveMinimum && value <= node.exclusiveMinimum) {
      return this.refuse(
        REASON_SCHEMA,
        depth,
        "not greater than exclusiveMinimum " + node.exclusiveMinimumText,
      );
    }
    if (node.hasExclusiveMaximum && value >= node.exclusiveMaximum) {
      return this.refuse(REASON_SCHEMA, depth, "not less than exclusiveMaximum " + node.exclusiveMaximumText);
    }
    return true;
  }

  onBool(value: bool): bool {
    if (!this.beginValue()) return false;
    const node = this.next;
    if (node === null) return true;
    if (!this.checkType(node, T_BOOLEAN, false)) return false;
    const allowed = node.allowed;
    if (allowed !== null && !(value ? allowed.trueAllowed : allowed.falseAllowed))
      return this.notInEnum(node);
    return true;
  }

  onNull(): bool {
    if (!this.beginValue()) return false;
    const node = this.next;
    if (node === null) return true;
    if (!this.checkType(node, T_NULL, false)) return false;
    const allowed = node.allowed;
    if (allowed !== null && !allowed.nullAllowed) return this.notInEnum(node);
    return true;
  }
}

/** Code points of `length` bytes of well-formed UTF-8 at `ptr`: every byte but continuation bytes. */
export function codePoints(ptr: usize, length: i32): i64 {
  let n: i64 = length;
  for (let i = 0; i < length; i++) {
    if ((load<u8>(ptr + <usize>i) & 0xc0) == 0x80) n--;
  }
  return n;
}

/** One request body, fed in chunks: parses once and checks as it goes. */
export class JsonBodyValidator {
  private validator: SchemaValidator;
  private parser: JsonStreamParser<SchemaValidator>;
  verdict: Verdict | null = null;

  constructor(options: JsonOptions) {
    const validator = new SchemaValidator(options);
    const limits = new JsonLimits();
    limits.maxDepth = options.maxDepth;
    limits.rejectDuplicateKeys = options.rejectDuplicateKeys;
    this.validator = validator;
    this.parser = new JsonStreamParser<SchemaValidator>(validator, limits);
  }

  bufferBytes(): i32 {
    return this.parser.bufferBytes();
  }

  /** Ready for another body, keeping the memory it has grown. */
  reset(): JsonBodyValidator {
    this.verdict = null;
    this.validator.reset();
    this.parser.reset();
    return this;
  }

  /** Feeds `length` bytes at `ptr`; false once the body is refused (see `verdict`). */
  feedBytes(ptr: usize, length: i32): bool {
    if (this.verdict !== null) return false;
    if (this.parser.feedBytes(ptr, length)) return true;
    this.verdict = this.failure();
    return false;
  }

  feed(bytes: Uint8Array): bool {
    return this.feedBytes(bytes.dataStart, bytes.length);
  }

  /** The body ended: false when it was not one complete, valid JSON value. */
  finish(): bool {
    if (this.verdict !== null) return false;
    if (this.parser.finish()) return true;
    this.verdict = this.failure();
    return false;
  }

  private failure(): Verdict {
    const validator = this.validator;
    if (validator.reason.length > 0) {
      return new Verdict(validator.reason, pointerExcerpt(validator.pointer) + ": " + validator.error);
    }
    const error = this.parser.error!;
    return new Verdict(
      REASON_INVALID_JSON,
      pointerExcerpt(error.path) + ": " + error.message + " at byte " + error.offset.toString(),
    );
  }
}
