// `graft new <name>`: a new filter folder that builds, passes its unit tests and its scenarios on
// the emulator and on Envoy as written, so an author starts from something that works and changes
// it. The filter it writes is small but real: it answers 403 for blocked path prefixes (its bad
// event) and tags responses with the injection id.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { filtersDir } from "../util/paths.ts";
import { SDK_PACKAGE } from "../compile/compile.ts";
import { GraftError } from "../util/errors.ts";

export class ScaffoldError extends GraftError<"SCAFFOLD_REFUSED"> {
  constructor(message: string) {
    super("SCAFFOLD_REFUSED", message);
  }
}

const NAME = /^[a-z][a-z0-9-]{0,62}[a-z0-9]$/;

/** `my-filter` → `MyFilter`. */
function className(name: string): string {
  return name
    .split("-")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

/**
 * The files of a new filter named `name`, by path inside its folder. `sdk` is how its AssemblyScript
 * imports the SDK: the package path for a filter in its own repository, a relative path in filters/.
 */
export function scaffoldFiles(name: string, sdk: string): Record<string, string> {
  const Name = className(name);
  const header = `x-${name}`;
  return {
    "filter.json":
      JSON.stringify(
        {
          name,
          summary: "Answers 403 for blocked path prefixes and tags every response with the injection id.",
          configuration: { schema: "schema.json", examples: "configs" },
          limits: {
            max_blocked_prefixes: {
              value: 16,
              description: "Entries of blocked_prefixes.",
              schema: ["/properties/blocked_prefixes/maxItems"],
            },
          },
          metrics: [
            {
              name: "requests_total",
              type: "counter",
              role: "volume",
              description: "Requests the filter saw.",
            },
            {
              name: "blocked_total",
              type: "counter",
              role: "bad_event",
              description: "Requests answered 403 because their path starts with a blocked prefix.",
            },
          ],
        },
        null,
        2,
      ) + "\n",
    "schema.json":
      JSON.stringify(
        {
          $schema: "https://json-schema.org/draft/2020-12/schema",
          title: `${name} configuration`,
          type: "object",
          additionalProperties: false,
          properties: {
            response_header: {
              type: "string",
              pattern: "^[a-z0-9-]{1,64}$",
              default: header,
              description: "The response header that carries the injection id.",
            },
            blocked_prefixes: {
              type: "array",
              maxItems: 16,
              items: { type: "string", pattern: "^/" },
              description: "Requests whose path starts with one of these get 403.",
            },
          },
        },
        null,
        2,
      ) + "\n",
    "assembly/index.ts": `// ${name}: its module's entry points. Contract: ../filter.json; configuration: ../schema.json.
// Export only the callbacks the filter uses: Envoy skips the others, and each call into the VM costs.
export {
  malloc,
  free,
  proxy_abi_version_0_2_1,
  proxy_on_vm_start,
  proxy_validate_configuration,
  proxy_on_configure,
  proxy_on_context_create,
  proxy_on_request_headers,
  proxy_on_response_headers,
  proxy_on_delete,
} from "${sdk}/exports";
import { RootContext, registerFilter } from "${sdk}";
import { ROOT_ID } from "./contract.generated";
import { ${Name}Root } from "./filter";

registerFilter(ROOT_ID, (context_id: u32): RootContext => new ${Name}Root(context_id));
`,
    "assembly/config.ts": `// ${name}'s configuration, read with the SDK's ConfigReader: every refusal names the field.
// Free of host calls, so the unit tests in __tests__ run it directly.
import { ConfigReader, JsonValue } from "${sdk}";
import { MAX_BLOCKED_PREFIXES } from "./contract.generated";

export class ${Name}Config {
  responseHeader: string = "${header}";
  blockedPrefixes: string[] = [];

  /** Whether a request for \`path\` is refused. */
  blocks(path: string): bool {
    for (let i = 0; i < this.blockedPrefixes.length; i++) {
      if (path.startsWith(this.blockedPrefixes[i])) return true;
    }
    return false;
  }
}

export function parseConfig(reader: ConfigReader, root: JsonValue): ${Name}Config {
  const config = new ${Name}Config();
  reader.onlyKeys(root, "", ["response_header", "blocked_prefixes"]);
  const header = reader.string(root, "", "response_header", false, "${header}");
  if (reader.ok() && !isHeaderName(header)) reader.fail("/response_header", "expected 1-64 characters of a-z, 0-9 or '-'");
  config.responseHeader = header;
  const prefixes = reader.strings(root, "", "blocked_prefixes", false);
  if (prefixes.length > MAX_BLOCKED_PREFIXES) reader.fail("/blocked_prefixes", "at most " + MAX_BLOCKED_PREFIXES.toString() + " prefixes");
  for (let i = 0; i < prefixes.length && reader.ok(); i++) {
    if (!prefixes[i].startsWith("/")) reader.fail("/blocked_prefixes/" + i.toString(), "must start with /");
  }
  config.blockedPrefixes = prefixes;
  return config;
}

function isHeaderName(name: string): bool {
  if (name.length == 0 || name.length > 64) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45)) return false;
  }
  return true;
}
`,
    "assembly/filter.ts": `// ${name}'s root context (configuration, metrics) and stream context (one decision per request).
import {
  GraftRootContext,
  GraftStream,
  ConfigReader,
  FilterMetrics,
  JsonValue,
  EnvoyRequest,
  FilterHeadersStatusValues,
  HeaderMapTypeValues,
  increment,
  sendReply,
  setHeader,
} from "${sdk}";
import { FILTER, METRIC_BLOCKED_TOTAL, METRIC_REQUESTS_TOTAL } from "./contract.generated";
import { ${Name}Config, parseConfig } from "./config";

export class ${Name}Root extends GraftRootContext {
  config: ${Name}Config = new ${Name}Config();
  requests: u32 = 0;
  blocked: u32 = 0;

  constructor(context_id: u32) {
    super(context_id, FILTER);
  }

  configure(reader: ConfigReader, root: JsonValue, metrics: FilterMetrics): void {
    const config = parseConfig(reader, root);
    if (!reader.ok()) return;
    this.requests = metrics.counter(METRIC_REQUESTS_TOTAL);
    this.blocked = metrics.counter(METRIC_BLOCKED_TOTAL);
    this.config = config;
  }

  createContext(context_id: u32): ${Name}Stream {
    return new ${Name}Stream(context_id, this);
  }
}

// One instance serves every stream of the worker; reset() as each request starts.
const request = new EnvoyRequest();

export class ${Name}Stream extends GraftStream<${Name}Root> {
  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const root = this.root;
    request.reset();
    increment(root.requests);
    if (!root.config.blocks(request.path())) return FilterHeadersStatusValues.Continue;
    increment(root.blocked);
    sendReply(403, "graft_${name.replace(/-/g, "_")}_blocked", '{"error":"blocked"}', "application/json");
    return FilterHeadersStatusValues.StopIteration;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    setHeader(HeaderMapTypeValues.ResponseHeaders, this.root.config.responseHeader, this.root.injection);
    return FilterHeadersStatusValues.Continue;
  }
}
`,
    "assembly/__tests__/config.spec.ts": `// Unit tests of ${name}'s configuration and decision (as-pect, no host needed).
import { ConfigReader } from "${sdk}";
import { parseConfig } from "../config";

function parsed(json: string): ConfigReader {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode(json)));
  if (root !== null) parseConfig(reader, root);
  return reader;
}

describe("${name} configuration", () => {
  test("blocks paths under a listed prefix, and only those", () => {
    const reader = new ConfigReader();
    const root = reader.parse(Uint8Array.wrap(String.UTF8.encode('{"blocked_prefixes":["/admin"]}')))!;
    const config = parseConfig(reader, root);
    expect(reader.ok()).toBe(true);
    expect(config.blocks("/admin/users")).toBe(true);
    expect(config.blocks("/api/admin")).toBe(false);
  });

  test("refuses a prefix without a leading slash, naming it", () => {
    expect(parsed('{"blocked_prefixes":["admin"]}').error!.toString()).toBe("/blocked_prefixes/0: must start with /");
  });

  test("refuses unknown fields", () => {
    const message = parsed('{"blocked":[]}').error!.toString();
    expect(message.startsWith("/blocked: unknown field")).toBe(true, message);
  });
});
`,
    "scenarios/blocks-prefix.yaml": `description: A request under a blocked prefix gets 403 and counts as blocked; others pass, tagged.
filter: ${name}
configuration:
  injection_id: ${name}-1
  blocked_prefixes: [/admin]
steps:
  - name: blocked
    request: { path: /admin/users }
    expect:
      outcome: local_reply
      status: 403
      metrics:
        "wasmcustom.filter=.=${name};.;injection=.=${name}-1;.;graft.blocked_total": 1
  - name: allowed
    request: { path: /api/items }
    expect:
      status: 200
      response: { headers: { ${header}: ${name}-1 } }
`,
    "scenarios/config-error-prefix.yaml": `description: A prefix without a leading slash is refused, naming the field.
filter: ${name}
configuration: { blocked_prefixes: [admin] }
refused:
  logs: ["invalid configuration: /blocked_prefixes/0: must start with /"]
`,
    "configs/good/minimal.json": "{}\n",
    "configs/good/blocked.json": `{ "injection_id": "${name}-1", "blocked_prefixes": ["/admin", "/internal"] }\n`,
    "configs/bad/unknown-field.json": `{ "blocked": ["/admin"] }\n`,
    "configs/bad/prefix-without-slash.json": `{ "blocked_prefixes": ["admin"] }\n`,
    ".gitignore": "build/\nassembly/contract.generated.ts\n",
    "README.md": `# ${name}

Answers 403 for requests whose path starts with a blocked prefix, and tags every response with the
injection id. Written by \`graft new\`: change it into your filter.

| file | what it is |
|---|---|
| \`filter.json\` | the contract: name, configuration schema, limits, metrics and their roles (the canary judges \`bad_event\` metrics) |
| \`schema.json\` | the configuration's JSON Schema (graft adds \`injection_id\`) |
| \`assembly/\` | the filter: \`index.ts\` (entry points), \`filter.ts\` (contexts), \`config.ts\` (configuration); \`contract.generated.ts\` is written by the build |
| \`assembly/__tests__/\` | unit tests (as-pect) |
| \`scenarios/\` | requests and what they must do, run on the host emulator and on real Envoy |
| \`configs/good\`, \`configs/bad\` | configurations the schema and the filter must both accept, or both refuse |

\`\`\`sh
graft build .             # build/${name}.wasm (release) and build/debug/${name}.wasm
graft test . --envoy      # unit tests, then the scenarios on the emulator and on Envoy 1.40
\`\`\`
`,
  };
}

/**
 * The file as the project's formatter would write it, so a new filter passes `npm run check` as it
 * is: prettier, with the configuration that applies where the file lands, when prettier is
 * installed (it is a development dependency; without it the text is kept as written).
 */
async function formatted(file: string, text: string): Promise<string> {
  let prettier: typeof import("prettier");
  try {
    prettier = await import("prettier");
  } catch {
    return text;
  }
  if (!/\.(ts|json|md)$/.test(file)) return text;
  const options = (await prettier.resolveConfig(file)) ?? {};
  try {
    return await prettier.format(text, { ...options, filepath: file });
  } catch {
    return text; // a parser plugin the location's configuration names may be missing outside this repository
  }
}

/** Writes a new filter named `name` into `parent/<name>`; refuses to overwrite anything. */
export async function scaffoldFilter(name: string, parent: string = filtersDir): Promise<string> {
  if (!NAME.test(name)) {
    throw new ScaffoldError(
      `"${name}" is not a filter name: use 2-64 characters of a-z, 0-9 and '-', starting with a letter (e.g. block-admin)`,
    );
  }
  const dir = path.resolve(parent, name);
  if (existsSync(dir)) throw new ScaffoldError(`${dir} exists already: choose another name or --dir`);
  const inRepository = path.resolve(parent) === filtersDir;
  const sdk = inRepository ? "../../../assembly" : `${SDK_PACKAGE}/assembly`;
  const files = scaffoldFiles(name, sdk);
  for (const [relative, text] of Object.entries(files)) {
    // Files beside assembly/ reach the SDK one level further up.
    const content =
      inRepository && relative.startsWith("assembly/__tests__/")
        ? text.replaceAll(`"${sdk}"`, `"../../../../assembly"`)
        : text;
    const file = path.join(dir, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, await formatted(file, content), { flag: "wx" });
  }
  return dir;
}
