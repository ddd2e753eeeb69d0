import { readFileSync } from "node:fs";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";

/**
 * The JSON Schemas of graft's operator files (targets, trust policy, rollout plan) live beside the
 * code that reads each; this checks a parsed document against one and reports the first problem as
 * `<file>: <field>: <problem>; fix: <fix>`, the field in the same notation the readers use
 * (`targets[0].admin`). The readers' own checks run too: they know cross-field rules (a slow band
 * that is not a histogram bound, a duplicate name) that a schema does not.
 */
const ajv = new Ajv2020({ allErrors: true, strict: false });
const compiled = new Map<string, { validate: ValidateFunction; schema: Schema }>();

interface Schema {
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  $ref?: string;
  $defs?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  [key: string]: unknown;
}

export function loadSchema(url: URL): Schema {
  return JSON.parse(readFileSync(url, "utf8")) as Schema;
}

function compile(url: URL): { validate: ValidateFunction; schema: Schema } {
  let entry = compiled.get(url.href);
  if (!entry) {
    const schema = loadSchema(url);
    entry = { validate: ajv.compile(schema), schema };
    compiled.set(url.href, entry);
  }
  return entry;
}

/** `/targets/0/admin` → `targets[0].admin`. */
export function fieldPath(pointer: string): string {
  const parts = pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let path = "";
  for (const part of parts) path += /^\d+$/.test(part) ? `[${part}]` : path === "" ? part : `.${part}`;
  return path === "" ? "(top level)" : path;
}

/** The sub-schema at a JSON Pointer into the document, following $ref into $defs. */
function schemaAt(root: Schema, pointer: string): Schema | undefined {
  let node: Schema | undefined = root;
  const resolve = (s: Schema | undefined): Schema | undefined =>
    s?.$ref?.startsWith("#/$defs/") ? resolve(root.$defs?.[s.$ref.slice(8)]) : s;
  for (const part of pointer.split("/").slice(1)) {
    node = resolve(node);
    if (!node) return undefined;
    node = /^\d+$/.test(part)
      ? node.items
      : (node.properties?.[part] ??
        (typeof node.additionalProperties === "object" ? node.additionalProperties : undefined));
  }
  return resolve(node) ?? node;
}

function describe(error: ErrorObject, root: Schema): { field: string; problem: string; fix: string } {
  const params = error.params as Record<string, unknown>;
  const about = schemaAt(root, error.instancePath);
  const hint = about?.description ? ` (${about.description})` : "";
  switch (error.keyword) {
    case "additionalProperties": {
      const extra = params.additionalProperty as string;
      const known = Object.keys(about?.properties ?? {});
      return {
        field: fieldPath(`${error.instancePath}/${extra}`),
        problem: "unknown field",
        fix: `remove it or use one of: ${known.join(", ")}`,
      };
    }
    case "required": {
      const missing = params.missingProperty as string;
      const what = about?.properties?.[missing]?.description;
      return {
        field: fieldPath(`${error.instancePath}/${missing}`),
        problem: "missing",
        fix: `add ${missing}${what ? ` (${what})` : ""}`,
      };
    }
    case "enum":
      return {
        field: fieldPath(error.instancePath),
        problem: "not an allowed value",
        fix: `use one of: ${(params.allowedValues as unknown[]).join(", ")}`,
      };
    case "pattern":
      return {
        field: fieldPath(error.instancePath),
        problem: `does not match ${params.pattern as string}`,
        fix: `write a value of that form${hint}`,
      };
    default:
      return {
        field: fieldPath(error.instancePath),
        problem: error.message ?? "invalid",
        fix: `see the schema${hint}`,
      };
  }
}

export interface SchemaProblem {
  /** `<file>: <field>: <problem>; fix: <fix>`. */
  message: string;
  field: string;
  problem: string;
  fix: string;
}

/**
 * Checks `document` against the schema at `url`; on a problem calls `fail(problem)` (which throws
 * the reader's own error type) with `<file>: <field>: <problem>; fix: <fix>`.
 */
export function checkAgainstSchema(
  document: unknown,
  url: URL,
  file: string,
  fail: (problem: SchemaProblem) => never,
): void {
  const { validate, schema } = compile(url);
  if (validate(document)) return;
  // oneOf/anyOf/if repeat their branches' errors; the most specific one is the useful line.
  const errors = (validate.errors ?? []).filter((e) => !["oneOf", "anyOf", "if"].includes(e.keyword));
  const first =
    errors.sort((a, b) => b.instancePath.length - a.instancePath.length)[0] ?? validate.errors![0]!;
  const { field, problem, fix } = describe(first, schema);
  const schemaName = url.pathname.split("/").pop();
  fail({
    message: `${file}: ${field}: ${problem}; fix: ${fix} (schema: ${schemaName})`,
    field,
    problem,
    fix: `${fix} (schema: ${schemaName})`,
  });
}
