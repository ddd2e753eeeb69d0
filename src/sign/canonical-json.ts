// SPDX-License-Identifier: Apache-2.0
import { createHash } from "node:crypto";

/**
 * Canonical JSON, the byte form graft hashes (configSha256, audit record hashes, statement payloads):
 *
 * - object keys sorted by UTF-16 code units (JavaScript's default string order), at every depth;
 * - no whitespace anywhere;
 * - strings and numbers written exactly as `JSON.stringify` writes them (ECMAScript number formatting,
 *   `-0` as `0`), so for the values graft hashes this equals RFC 8785 (JCS);
 * - object properties whose value is `undefined` are left out, as `JSON.stringify` does;
 * - anything JSON cannot represent (NaN, Infinity, bigint, functions, symbols, `undefined` in arrays,
 *   Dates and other class instances) is refused with a TypeError rather than silently coerced, because
 *   a hash over a lossy rendering would approve a configuration nobody reviewed.
 */
export function canonicalJson(value: unknown): string {
  return write(value, "$");
}

/** sha256 hex of the UTF-8 canonical JSON of `value`. */
export function canonicalSha256(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value), "utf8").digest("hex");
}

function write(value: unknown, where: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value))
        throw new TypeError(`canonical json: ${where} is ${value}, which JSON cannot represent`);
      return JSON.stringify(value);
    case "object":
      break;
    default:
      throw new TypeError(`canonical json: ${where} is a ${typeof value}, which JSON cannot represent`);
  }
  if (Array.isArray(value)) {
    return `[${value
      .map((item, index) => {
        if (item === undefined) throw new TypeError(`canonical json: ${where}[${index}] is undefined`);
        return write(item, `${where}[${index}]`);
      })
      .join(",")}]`;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) {
    const kind = (value as object).constructor?.name ?? "object";
    throw new TypeError(
      `canonical json: ${where} is a ${kind}; only plain objects, arrays and primitives are allowed`,
    );
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${write(item, `${where}.${key}`)}`);
  }
  return `{${parts.join(",")}}`;
}
