// A filter's contract: filters/<name>/filter.json, the one place that declares what the toolkit
// knows about a filter (name and root id, configuration schema, parser limits, metrics and their
// roles). The build generates the filter's AssemblyScript constants from it; the configuration
// check, metric tags, canary signals, scenarios and benches read it.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import contractSchema from "./filter-contract.schema.json" with { type: "json" };
import { GraftError } from "../util/errors.ts";

export const CONTRACT_FILE = "filter.json";

export type MetricRole = "volume" | "bad_event" | "latency" | "info";

export interface ContractMetric {
  name: string;
  type: "counter" | "gauge" | "histogram";
  role: MetricRole;
  tags?: string[];
  description: string;
  batched?: boolean;
}

export interface ContractLimit {
  value: number;
  description: string;
  schema?: string[];
}

export interface FilterContract {
  name: string;
  rootId?: string;
  summary: string;
  configuration: { schema: string; examples?: string; starter?: string };
  limits?: Record<string, ContractLimit>;
  /** Ceiling on the release module's size (tests/bench/module-size.test.ts). */
  maxModuleKiB?: number;
  metrics: ContractMetric[];
}

/** A filter.json that cannot be used; the message names the file, the field and the fix. */
export class ContractError extends GraftError<"INVALID_FILTER_CONTRACT"> {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super("INVALID_FILTER_CONTRACT", `${file}: ${message}`);
  }
}

/** Fields graft gives every filter's configuration; the SDK reads them before the filter does. */
export const SHARED_CONFIGURATION_FIELDS = {
  injection_id: {
    type: "string",
    pattern: "^[A-Za-z0-9_-]{1,64}$",
    description:
      "Names this injection: the `injection` tag of the filter's metrics and the prefix of its logs. 1-64 characters of A-Z, a-z, 0-9, '_' or '-'; `static` when absent.",
  },
} as const;

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validateContract = ajv.compile(contractSchema);

/** The value at a JSON Pointer (RFC 6901), or undefined. */
export function pointerValue(document: unknown, pointer: string): unknown {
  let value: unknown = document;
  for (const raw of pointer.split("/").slice(1)) {
    const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[token];
  }
  return value;
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ContractError(
      file,
      `cannot read the ${what} (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ContractError(file, `the ${what} is not JSON: ${(error as Error).message}`);
  }
}

/** Reads and checks the contract of the filter in `dir` (its folder). */
export function readContract(dir: string): FilterContract {
  const file = path.join(dir, CONTRACT_FILE);
  if (!existsSync(file)) {
    throw new ContractError(
      file,
      `missing: every filter folder declares itself in ${CONTRACT_FILE} (\`graft new\` writes one)`,
    );
  }
  const raw = readJson(file, "filter contract");
  if (!validateContract(raw)) {
    const problems = (validateContract.errors ?? []).map((e) => {
      const extra =
        e.keyword === "additionalProperties"
          ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"`
          : e.keyword === "enum"
            ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")})`
            : "";
      return `${e.instancePath || "/"}: ${e.message}${extra}`;
    });
    throw new ContractError(
      file,
      `does not match the filter contract schema:\n  - ${[...new Set(problems)].join("\n  - ")}`,
    );
  }
  const contract = raw as unknown as FilterContract;
  const folder = path.basename(path.resolve(dir));
  if (contract.name !== folder) {
    throw new ContractError(
      file,
      `/name: "${contract.name}" must equal the folder's name "${folder}" (rename one of them)`,
    );
  }
  const metricNames = contract.metrics.map((m) => m.name);
  const repeated = metricNames.find((name, i) => metricNames.indexOf(name) !== i);
  if (repeated) throw new ContractError(file, `/metrics: "${repeated}" is declared twice`);
  checkLimitsAgainstSchema(dir, contract);
  const starter = contract.configuration.starter;
  if (starter !== undefined && !existsSync(path.join(dir, starter))) {
    throw new ContractError(
      file,
      `/configuration/starter: ${starter} does not exist in ${dir} (write the configuration \`graft init\` starts a fleet with, or remove the field)`,
    );
  }
  return contract;
}

/** The root id the module registers and Envoy configures. */
export function rootIdOf(contract: FilterContract): string {
  return contract.rootId ?? contract.name;
}

/** The configuration schema as written beside the filter (without the shared fields). */
export function readOwnSchema(dir: string, contract: FilterContract): Record<string, unknown> {
  const file = path.join(dir, contract.configuration.schema);
  const schema = readJson(file, "configuration schema");
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
    throw new ContractError(file, "the configuration schema must be a JSON object");
  }
  const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  for (const shared of Object.keys(SHARED_CONFIGURATION_FIELDS)) {
    if (shared in properties) {
      throw new ContractError(
        file,
        `/properties/${shared}: graft adds this shared field to every filter; remove it from the schema`,
      );
    }
  }
  return schema as Record<string, unknown>;
}

/** The configuration schema a configuration is checked against: the filter's, plus the shared fields. */
export function configurationSchema(dir: string, contract: FilterContract): Record<string, unknown> {
  const own = readOwnSchema(dir, contract);
  const properties = (own.properties as Record<string, unknown> | undefined) ?? {};
  return { ...own, properties: { ...SHARED_CONFIGURATION_FIELDS, ...properties } };
}

function checkLimitsAgainstSchema(dir: string, contract: FilterContract): void {
  const limits = Object.entries(contract.limits ?? {}).filter(([, limit]) => (limit.schema ?? []).length > 0);
  if (limits.length === 0) return;
  const schemaFile = path.join(dir, contract.configuration.schema);
  const schema = readOwnSchema(dir, contract);
  for (const [name, limit] of limits) {
    for (const pointer of limit.schema ?? []) {
      const found = pointerValue(schema, pointer);
      if (found !== limit.value) {
        throw new ContractError(
          schemaFile,
          `${pointer} is ${found === undefined ? "missing" : JSON.stringify(found)}, but filter.json's limit ${name} is ${limit.value}: make them equal`,
        );
      }
    }
  }
}

/** `max_rules` → `MAX_RULES`; `requests_total` → `METRIC_REQUESTS_TOTAL`. */
function constantName(name: string): string {
  return name.toUpperCase();
}

/**
 * filters/<name>/assembly/contract.generated.ts: the filter's name, root id, limits and metric
 * names as AssemblyScript constants, so its source cannot drift from its contract.
 */
export function assemblyConstants(contract: FilterContract): string {
  const lines = [
    `// Generated by graft from ../${CONTRACT_FILE} when the filter is built: do not edit, change filter.json.`,
    `export const FILTER = ${JSON.stringify(contract.name)};`,
    `export const ROOT_ID = ${JSON.stringify(rootIdOf(contract))};`,
  ];
  for (const [name, limit] of Object.entries(contract.limits ?? {})) {
    const type = Number.isSafeInteger(limit.value) && Math.abs(limit.value) <= 0x7fffffff ? "i32" : "i64";
    lines.push(
      `/** ${limit.description} */`,
      `export const ${constantName(name)}: ${type} = ${limit.value};`,
    );
  }
  for (const metric of contract.metrics) {
    lines.push(`/** ${metric.type}, ${metric.role}: ${metric.description} */`);
    lines.push(`export const METRIC_${constantName(metric.name)} = ${JSON.stringify(metric.name)};`);
  }
  return lines.join("\n") + "\n";
}

/** Every tag name the filter's metrics carry, filter and injection included. */
export function metricTagNames(contract: FilterContract): string[] {
  return ["filter", "injection", ...new Set(contract.metrics.flatMap((m) => m.tags ?? []))];
}
