import { Ajv2020, type ErrorObject } from "ajv/dist/2020.js";
import { loadSchema, type FilterInfo } from "./catalog.ts";
import { GraftError } from "../util/errors.ts";

/** A filter configuration that its schema refuses; `problems` name each field (JSON Pointer) and what is wrong. */
export class FilterConfigError extends GraftError<"INVALID_FILTER_CONFIG"> {
  constructor(
    readonly filter: string,
    readonly source: string,
    readonly problems: string[],
  ) {
    super(
      "INVALID_FILTER_CONFIG",
      `${source}: invalid ${filter} configuration:\n  - ${problems.join("\n  - ")}\n  (schema: ${filter}'s schema.json, plus the shared fields graft adds)`,
    );
  }
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

function describe(error: ErrorObject): string {
  const at = error.instancePath || "/";
  if (error.keyword === "additionalProperties")
    return `${at}: unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
  if (error.keyword === "enum")
    return `${at}: ${error.message} (${(error.params as { allowedValues: unknown[] }).allowedValues.join(", ")})`;
  return `${at}: ${error.message}`;
}

/**
 * Checks a configuration against the filter's JSON Schema (the one beside its source), before
 * anything is written to a target. The filter checks again when Envoy configures it.
 */
export function validateFilterConfig(info: FilterInfo, configuration: unknown, source: string): void {
  let validate = validators.get(info.name);
  if (!validate) {
    validate = ajv.compile(loadSchema(info));
    validators.set(info.name, validate);
  }
  if (!validate(configuration)) {
    // oneOf/anyOf branches repeat their children's errors; keep the most specific, unique lines.
    const problems = [
      ...new Set(
        (validate.errors ?? []).filter((e) => e.keyword !== "oneOf" && e.keyword !== "anyOf").map(describe),
      ),
    ];
    throw new FilterConfigError(
      info.name,
      source,
      problems.length > 0 ? problems : ["does not match the schema"],
    );
  }
}
