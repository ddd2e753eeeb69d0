// SPDX-License-Identifier: Apache-2.0
/**
 * Validates rendered objects the way a Kubernetes API server validates custom resources, from the CRD
 * alone (tests/data/crds/…):
 *  1. the version's openAPIV3Schema, converted from the Kubernetes structural dialect to JSON Schema and
 *     run by Ajv: `nullable` → also null; `x-kubernetes-int-or-string` → integer or string;
 *     `x-kubernetes-preserve-unknown-fields` → unknown fields allowed, and everywhere else unknown fields
 *     are errors (kubectl's default strict field validation); `x-kubernetes-list-type: set` → unique
 *     items; `format` is not checked (int32 ranges and date-time are left to the API server);
 *  2. `x-kubernetes-list-type: map` → items unique by their `x-kubernetes-list-map-keys`;
 *  3. the CEL rules (`x-kubernetes-validations`): NOT a general CEL evaluator. Each rule text the three
 *     CRDs contain is implemented below as a TypeScript predicate, keyed by its exact text; a rule the
 *     table does not know fails the validation loudly ("add it to CEL_RULES"), so a CRD update cannot
 *     silently skip a rule. isURL/url().getScheme() follow Kubernetes' CEL URL library (Go's
 *     url.ParseRequestURI) closely enough for the URLs graft writes: a scheme, or an absolute path.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import yaml from "js-yaml";

type Schema = Record<string, unknown>;

export const CRD_DIR = path.join(import.meta.dirname, "..", "data", "crds");

interface CrdVersion {
  kind: string;
  apiVersion: string;
  schema: Schema;
}

/** The served version `version` of the CRD for `kind` in `file` (a file may hold several CRDs). */
export function loadCrd(file: string, kind: string, version?: string): CrdVersion {
  const documents = yaml.loadAll(readFileSync(path.join(CRD_DIR, file), "utf8")) as {
    spec?: {
      group: string;
      names: { kind: string };
      versions: { name: string; served: boolean; schema: { openAPIV3Schema: Schema } }[];
    };
  }[];
  const crd = documents.find((document) => document?.spec?.names.kind === kind);
  if (!crd?.spec) throw new Error(`${file}: no CustomResourceDefinition for kind ${kind}`);
  const served = crd.spec.versions.filter((v) => v.served && (version === undefined || v.name === version));
  const chosen = served[0];
  if (!chosen) throw new Error(`${file}: ${kind} has no served version ${version ?? ""}`);
  return { kind, apiVersion: `${crd.spec.group}/${chosen.name}`, schema: chosen.schema.openAPIV3Schema };
}

/** The structural schema as plain JSON Schema (draft-07), see the file comment. */
export function toJsonSchema(schema: Schema, isRoot = true): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith("x-kubernetes-") || key === "nullable" || key === "format") continue;
    if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([name, sub]) => [
          name,
          toJsonSchema(sub, false),
        ]),
      );
    } else if (key === "items" || (key === "additionalProperties" && typeof value === "object")) {
      out[key] = toJsonSchema(value as Schema, false);
    } else if (key === "anyOf" || key === "allOf" || key === "oneOf") {
      out[key] = (value as Schema[]).map((sub) => toJsonSchema(sub, false));
    } else if (key === "not") {
      out[key] = toJsonSchema(value as Schema, false);
    } else {
      out[key] = value;
    }
  }
  if (schema["x-kubernetes-int-or-string"] === true) {
    delete out.type;
    if (!out.anyOf) out.anyOf = [{ type: "integer" }, { type: "string" }];
  }
  if (schema["x-kubernetes-list-type"] === "set") out.uniqueItems = true;
  if (isRoot) {
    // apiVersion, kind and metadata are always allowed (the API server handles ObjectMeta itself).
    const properties = (out.properties ?? {}) as Record<string, Schema>;
    out.properties = {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      ...properties,
    };
  }
  const isObject = out.type === "object" || (out.properties !== undefined && out.type === undefined);
  if (
    isObject &&
    out.properties !== undefined &&
    out.additionalProperties === undefined &&
    schema["x-kubernetes-preserve-unknown-fields"] !== true
  )
    out.additionalProperties = false;
  if (schema.nullable === true) {
    if (typeof out.type === "string") out.type = [out.type, "null"];
    else return { anyOf: [out, { type: "null" }] };
  }
  return out;
}

/** Go's url.ParseRequestURI, as far as the CEL URL library's isURL needs it. */
function parseRequestUri(text: string): { scheme: string } | null {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text);
  if (scheme) {
    if (/[\s\x00-\x1f\x7f]/.test(text)) return null;
    return { scheme: scheme[1]!.toLowerCase() };
  }
  return text.startsWith("/") ? { scheme: "" } : null;
}
const URL_SCHEMES = ["", "http", "https", "oci", "file"];

/** Every CEL rule in tests/data/crds, by its exact text. */
const CEL_RULES: Record<string, (self: never) => boolean> = {
  '!self.contains("*")': (self: string) => !self.includes("*"),
  'self.all(key, !key.contains("*"))': (self: object) => Object.keys(self).every((key) => !key.includes("*")),
  "self.all(key, key.size() != 0)": (self: object) => Object.keys(self).every((key) => key.length !== 0),
  "self.size() == 0": (self: string) => [...self].length === 0,
  'isURL(self) ? (url(self).getScheme() in ["", "http", "https", "oci", "file"]) : (isURL("http://" + self) &&\nurl("http://" + self).getScheme() in ["", "http", "https", "oci", "file"])':
    (self: string) => {
      const direct = parseRequestUri(self);
      if (direct) return URL_SCHEMES.includes(direct.scheme);
      const prefixed = parseRequestUri(`http://${self}`);
      return prefixed !== null && URL_SCHEMES.includes(prefixed.scheme);
    },
  '(has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)': (
    self: Record<string, unknown>,
  ) => (self.valueFrom ?? "") !== "HOST" || !("value" in self),
  "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1": (
    self: Record<string, unknown>,
  ) => ["selector", "targetRef", "targetRefs"].filter((field) => field in self).length <= 1,
  "(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true": (
    self: Record<string, unknown>,
  ) => ([...String(self.group ?? "")].length === 0 && self.kind === "Service" ? "port" in self : true),
};

function normalizeRule(rule: string): string {
  return rule.trim();
}

/** The CEL and list-map problems of `value` under `schema`, as `<path>: <message>` lines. */
function kubernetesRuleProblems(schema: Schema, value: unknown, at: string): string[] {
  if (value === undefined || value === null) return [];
  const problems: string[] = [];
  for (const validation of (schema["x-kubernetes-validations"] as
    { rule: string; message?: string }[] | undefined) ?? []) {
    const rule = normalizeRule(validation.rule);
    const check = CEL_RULES[rule];
    if (!check) {
      problems.push(
        `${at || "/"}: CEL rule not implemented by tests/mesh/crd-validator.ts (add it to CEL_RULES): ${JSON.stringify(rule)}`,
      );
      continue;
    }
    if (!(check as (self: unknown) => boolean)(value))
      problems.push(`${at || "/"}: ${validation.message ?? `failed rule ${rule}`}`);
  }
  if (Array.isArray(value)) {
    const keys = schema["x-kubernetes-list-map-keys"] as string[] | undefined;
    if (schema["x-kubernetes-list-type"] === "map" && keys) {
      const seen = new Set<string>();
      value.forEach((item, index) => {
        const key = JSON.stringify(keys.map((k) => (item as Record<string, unknown>)?.[k]));
        if (seen.has(key))
          problems.push(`${at}/${index}: duplicate entry for list-map keys ${keys.join(",")} = ${key}`);
        seen.add(key);
      });
    }
    const items = schema.items as Schema | undefined;
    if (items)
      value.forEach((item, index) => problems.push(...kubernetesRuleProblems(items, item, `${at}/${index}`)));
  } else if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [name, sub] of Object.entries(properties))
      problems.push(...kubernetesRuleProblems(sub, record[name], `${at}/${name}`));
    const additional = schema.additionalProperties;
    if (additional && typeof additional === "object")
      for (const [name, sub] of Object.entries(record))
        if (!(name in properties))
          problems.push(...kubernetesRuleProblems(additional as Schema, sub, `${at}/${name}`));
    for (const sub of [...((schema.allOf as Schema[] | undefined) ?? [])])
      problems.push(...kubernetesRuleProblems(sub, value, at));
  }
  return problems;
}

function describe(error: ErrorObject): string {
  const extra =
    error.keyword === "additionalProperties"
      ? ` "${(error.params as { additionalProperty: string }).additionalProperty}"`
      : error.keyword === "enum"
        ? ` (${(error.params as { allowedValues: unknown[] }).allowedValues.join(", ")})`
        : "";
  return `${error.instancePath || "/"}: ${error.message}${extra}`;
}

export interface CrdValidator {
  apiVersion: string;
  kind: string;
  /** Every problem, schema first, then CEL; empty when the API server would accept the object. */
  problems: (object: unknown) => string[];
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

export function crdValidator(file: string, kind: string, version?: string): CrdValidator {
  const crd = loadCrd(file, kind, version);
  const validate: ValidateFunction = ajv.compile(toJsonSchema(crd.schema));
  return {
    apiVersion: crd.apiVersion,
    kind,
    problems(object: unknown): string[] {
      const problems: string[] = [];
      const record = object as { apiVersion?: unknown; kind?: unknown } | null;
      if (record?.apiVersion !== crd.apiVersion)
        problems.push(`/apiVersion: is ${JSON.stringify(record?.apiVersion)}, want ${crd.apiVersion}`);
      if (record?.kind !== kind) problems.push(`/kind: is ${JSON.stringify(record?.kind)}, want ${kind}`);
      if (!validate(object)) problems.push(...new Set((validate.errors ?? []).map(describe)));
      // Kubernetes skips CEL when the schema already failed; so does this helper.
      if (problems.length === 0) problems.push(...kubernetesRuleProblems(crd.schema, object, ""));
      return problems;
    },
  };
}
