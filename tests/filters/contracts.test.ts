// Every filter's contract (filters/<name>/filter.json) holds: it reads, its limits equal the
// schema's bounds, its module registers the declared root id, and each configuration of its
// examples corpus gets the same answer from the JSON Schema and from the filter's own parser.
import assert from "node:assert/strict";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdirSync,
  cpSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import yaml from "js-yaml";
import { listFilters } from "../../src/filters/catalog.ts";
import { ContractError, readContract } from "../../src/filters/contract.ts";
import { ConfigurationRejectedError, Emulator } from "../../src/host/index.ts";
import { loadSchema } from "../../src/filters/catalog.ts";

function corpus(dir: string, kind: "good" | "bad"): { name: string; configuration: unknown }[] {
  const folder = path.join(dir, kind);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => ({
      name: `${kind}/${file}`,
      configuration: JSON.parse(readFileSync(path.join(folder, file), "utf8")),
    }));
}

/** The filter's own verdict on a configuration: null when it accepts, else the refusal. */
async function filterVerdict(module: string, rootId: string, configuration: unknown): Promise<string | null> {
  try {
    await Emulator.load({ module, rootId, configuration });
    return null;
  } catch (error) {
    if (error instanceof ConfigurationRejectedError) return error.message.split("\n")[0] ?? "refused";
    throw error;
  }
}

for (const filter of listFilters()) {
  describe(`the ${filter.name} contract`, () => {
    it("registers the root id it declares (Envoy finds the filter by it)", async () => {
      const emulator = await Emulator.load({
        module: filter.releaseWasm,
        rootId: filter.rootId,
        configuration:
          corpus(path.join(filter.dir, filter.contract.configuration.examples ?? "configs"), "good")[0]
            ?.configuration ?? {},
      });
      assert.ok(emulator);
    });

    it("has an examples corpus with good and bad configurations", () => {
      const examples = path.join(filter.dir, filter.contract.configuration.examples ?? "configs");
      assert.ok(corpus(examples, "good").length > 0, `${examples}/good is empty`);
      assert.ok(corpus(examples, "bad").length > 0, `${examples}/bad is empty`);
    });

    it("gets the same answer from its JSON Schema and from its own parser for every example", async () => {
      const examples = path.join(filter.dir, filter.contract.configuration.examples ?? "configs");
      const validate = new Ajv2020({ strict: false }).compile(loadSchema(filter));
      for (const kind of ["good", "bad"] as const) {
        for (const { name, configuration } of corpus(examples, kind)) {
          const schemaAccepts = validate(configuration);
          const refusal = await filterVerdict(filter.releaseWasm, filter.rootId, configuration);
          assert.equal(
            schemaAccepts,
            kind === "good",
            `${name}: the schema ${schemaAccepts ? "accepts" : "refuses"} it (${JSON.stringify(validate.errors?.[0] ?? null)})`,
          );
          assert.equal(
            refusal === null,
            kind === "good",
            `${name}: the filter ${refusal === null ? "accepts" : `refuses it: ${refusal}`}`,
          );
        }
      }
    });

    const starter = filter.contract.configuration.starter;
    if (starter !== undefined)
      it("its starter configuration (graft init's) is accepted by its JSON Schema and by its own parser", async () => {
        const configuration = yaml.load(readFileSync(path.join(filter.dir, starter), "utf8"));
        const validate = new Ajv2020({ strict: false }).compile(loadSchema(filter));
        assert.equal(validate(configuration), true, JSON.stringify(validate.errors?.[0] ?? null));
        assert.equal(await filterVerdict(filter.releaseWasm, filter.rootId, configuration), null);
      });
  });
}

describe("a filter contract that cannot be used is refused, naming the file and the fix", () => {
  const scratch = () => {
    const parent = mkdtempSync(path.join(tmpdir(), "graft-contract-"));
    const source = listFilters()[0]!;
    const dir = path.join(parent, source.name);
    mkdirSync(dir);
    cpSync(path.join(source.dir, "filter.json"), path.join(dir, "filter.json"));
    for (const file of [
      source.contract.configuration.schema,
      source.contract.configuration.starter ?? [],
    ].flat()) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      cpSync(path.join(source.dir, file), path.join(dir, file));
    }
    return {
      parent,
      dir,
      contract: JSON.parse(readFileSync(path.join(dir, "filter.json"), "utf8")) as Record<string, unknown>,
    };
  };
  const refusal = (dir: string) => {
    try {
      readContract(dir);
    } catch (error) {
      assert.ok(error instanceof ContractError, String(error));
      return error.message;
    }
    assert.fail("the contract was accepted");
  };

  it("a name that differs from the folder's", () => {
    const { parent, dir, contract } = scratch();
    writeFileSync(path.join(dir, "filter.json"), JSON.stringify({ ...contract, name: "other-name" }));
    assert.match(refusal(dir), /filter\.json: \/name: "other-name" must equal the folder's name/);
    rmSync(parent, { recursive: true });
  });

  it("a limit that differs from the schema's bound", () => {
    const { parent, dir, contract } = scratch();
    const limits = contract.limits as Record<string, { value: number; schema?: string[] }>;
    const [name, limit] = Object.entries(limits).find(([, l]) => (l.schema ?? []).length > 0)!;
    writeFileSync(
      path.join(dir, "filter.json"),
      JSON.stringify({ ...contract, limits: { ...limits, [name]: { ...limit, value: limit.value + 1 } } }),
    );
    assert.match(
      refusal(dir),
      new RegExp(
        `schema\\.json: .* but filter\\.json's limit ${name} is ${limit.value + 1}: make them equal`,
      ),
    );
    rmSync(parent, { recursive: true });
  });

  it("a starter configuration that does not exist", () => {
    const { parent, dir, contract } = scratch();
    const configuration = { ...(contract.configuration as object), starter: "configs/first.yaml" };
    writeFileSync(path.join(dir, "filter.json"), JSON.stringify({ ...contract, configuration }));
    assert.match(
      refusal(dir),
      /filter\.json: \/configuration\/starter: configs\/first\.yaml does not exist in .*write the configuration `graft init` starts a fleet with, or remove the field/,
    );
    rmSync(parent, { recursive: true });
  });

  it("a metric with an unknown role, and a schema that declares a shared field", () => {
    const { parent, dir, contract } = scratch();
    const metrics = contract.metrics as Record<string, unknown>[];
    writeFileSync(
      path.join(dir, "filter.json"),
      JSON.stringify({ ...contract, metrics: [{ ...metrics[0], role: "errors" }] }),
    );
    assert.match(
      refusal(dir),
      /\/metrics\/0\/role: must be equal to one of the allowed values \(volume, bad_event, latency, info\)/,
    );
    writeFileSync(path.join(dir, "filter.json"), JSON.stringify(contract));
    const schemaFile = path.join(
      dir,
      contract.configuration ? (contract.configuration as { schema: string }).schema : "schema.json",
    );
    const schema = JSON.parse(readFileSync(schemaFile, "utf8")) as { properties: Record<string, unknown> };
    writeFileSync(
      schemaFile,
      JSON.stringify({ ...schema, properties: { ...schema.properties, injection_id: { type: "string" } } }),
    );
    assert.match(
      refusal(dir),
      /\/properties\/injection_id: graft adds this shared field to every filter; remove it from the schema/,
    );
    rmSync(parent, { recursive: true });
  });
});
