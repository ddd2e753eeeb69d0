// SPDX-License-Identifier: Apache-2.0
// The mesh commands driven through commander as bin/graft drives them: istio, push, pull, flagger, argo.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Command, CommanderError } from "commander";
import { register as registerArgo } from "../../src/cli/commands/argo.ts";
import { register as registerFlagger } from "../../src/cli/commands/flagger.ts";
import { register as registerIstio } from "../../src/cli/commands/istio.ts";
import { register as registerPull } from "../../src/cli/commands/pull.ts";
import { register as registerPush } from "../../src/cli/commands/push.ts";
import { fromYamlDocuments } from "../../src/mesh/yaml-documents.ts";
import { registrySkipReason, startRegistry, type RunningRegistry } from "../support/registry.ts";
import { crdValidator } from "./crd-validator.ts";
import {
  alice,
  exampleConfig,
  filter,
  FILTER,
  mallory,
  policyText,
  signed,
  wasm,
  withTempDir,
} from "./fixtures.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function graft(...argv: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const program = new Command("graft").showHelpAfterError().exitOverride();
  program.configureOutput({ writeOut: (text) => (stdout += text), writeErr: (text) => (stderr += text) });
  for (const register of [registerIstio, registerPush, registerPull, registerFlagger, registerArgo])
    register(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, stdout, stderr };
    throw error;
  }
}

const wasmPluginCrd = crdValidator("istio-wasmplugin.yaml", "WasmPlugin");

describe("mesh commands", () => {
  it("graft istio plugin / canary / stats print YAML the CRD accepts, and refuse bad flags with the reason", async () => {
    await withTempDir(async (dir) => {
      const config = path.join(dir, "config.json");
      const canary = path.join(dir, "canary.yaml");
      await writeFile(config, JSON.stringify(exampleConfig("sf-1")));
      await writeFile(canary, `blocked_prefixes: []\ninjection_id: sf-2\n`);
      const envelope = path.join(dir, "envelope.json");
      await writeFile(
        envelope,
        JSON.stringify(signed([alice], exampleConfig("sf-1"), { injectionId: "sf-1" })),
      );
      const plugin = await graft(
        "istio",
        "plugin",
        filter.dir,
        "--url",
        "r.example.com/graft/sf:1",
        "--sha256",
        "e".repeat(64),
        "--config",
        config,
        "--envelope",
        envelope,
        "--selector",
        "app=checkout",
        "--phase",
        "STATS",
        "--priority",
        "5",
        "--namespace",
        "shop",
      );
      assert.equal(plugin.code, 0, plugin.stderr);
      const [object] = fromYamlDocuments(plugin.stdout, "stdout");
      assert.deepEqual(wasmPluginCrd.problems(object), []);

      const pair = await graft(
        "istio",
        "canary",
        filter.dir,
        "--split-label",
        "app",
        "--stable-value",
        "checkout-primary",
        "--stable-url",
        "oci://r.example.com/graft/sf:1",
        "--stable-config",
        config,
        "--canary-value",
        "checkout",
        "--canary-url",
        "oci://r.example.com/graft/sf:2",
        "--canary-config",
        canary,
      );
      assert.equal(pair.code, 0, pair.stderr);
      const objects = fromYamlDocuments(pair.stdout, "stdout");
      assert.equal(objects.length, 2);
      for (const o of objects) assert.deepEqual(wasmPluginCrd.problems(o), []);

      const stats = await graft("istio", "stats", "--filter", filter.dir);
      assert.equal(stats.code, 0, stats.stderr);
      assert.match(stats.stdout, /extraStatTags:/);

      const both = await graft(
        "istio",
        "plugin",
        filter.dir,
        "--url",
        "r.example.com/graft/sf:1",
        "--config",
        config,
        "--selector",
        "app=x",
        "--target-ref",
        "Gateway/edge",
      );
      assert.equal(both.code, 1);
      assert.match(both.stderr, /error: INVALID_INPUT: --selector and --target-ref/);
      const badConfig = path.join(dir, "bad.json");
      await writeFile(badConfig, JSON.stringify({ blocked: ["/admin"] }));
      const refused = await graft(
        "istio",
        "plugin",
        filter.dir,
        "--url",
        "r.example.com/graft/sf:1",
        "--config",
        badConfig,
      );
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        new RegExp(`error: INVALID_FILTER_CONFIG: .*bad\\.json: invalid ${FILTER} configuration`),
      );
    });
  });

  it("graft flagger and graft argo print CRD-valid objects", async () => {
    const flagger = await graft(
      "flagger",
      filter.dir,
      "--namespace",
      "shop",
      "--target",
      "checkout",
      "--port",
      "8080",
      "--canary-injection",
      "rl-2",
      "--baseline-injection",
      "rl-1",
    );
    assert.equal(flagger.code, 0, flagger.stderr);
    const [template, canary] = fromYamlDocuments(flagger.stdout, "stdout");
    assert.deepEqual(crdValidator("flagger-crds.yaml", "MetricTemplate").problems(template), []);
    assert.deepEqual(crdValidator("flagger-crds.yaml", "Canary").problems(canary), []);
    const argo = await graft("argo", filter.dir, "--max-increase", "0.005");
    assert.equal(argo.code, 0, argo.stderr);
    const [analysis] = fromYamlDocuments(argo.stdout, "stdout");
    assert.deepEqual(
      crdValidator("argo-rollouts-analysistemplate.yaml", "AnalysisTemplate").problems(analysis),
      [],
    );
    assert.match(argo.stdout, /graft_blocked_total/);
  });
});

describe("graft push / graft pull (CLI)", { skip: registrySkipReason() }, () => {
  let registry: RunningRegistry;
  before(async () => (registry = await startRegistry()));
  after(async () => registry?.stop());

  it("push prints the pinned URL; pull writes only after verifying, and exits 2 without writing when refused", async () => {
    await withTempDir(async (dir) => {
      const file = (name: string) => path.join(dir, name);
      await writeFile(file("sf.wasm"), wasm);
      await writeFile(file("config.json"), JSON.stringify(exampleConfig("sf-1")));
      await writeFile(
        file("envelope.json"),
        JSON.stringify(signed([alice], exampleConfig("sf-1"), { injectionId: "sf-1" })),
      );
      await writeFile(file("trust.yaml"), policyText([alice]));
      await writeFile(file("other-trust.yaml"), policyText([mallory]));
      const ref = `oci://${registry.host}/graft/${FILTER}:1.0.0`;
      const push = await graft(
        "push",
        file("sf.wasm"),
        ref,
        "--envelope",
        file("envelope.json"),
        "--config",
        file("config.json"),
      );
      assert.equal(push.code, 0, push.stderr);
      assert.match(
        push.stdout,
        new RegExp(`url: +oci://${registry.host}/graft/${FILTER}@sha256:[0-9a-f]{64}`),
      );
      assert.match(push.stdout, /referrer via the sha256-<hex> tag/);

      const refused = await graft(
        "pull",
        ref,
        "--policy",
        file("other-trust.yaml"),
        "--out",
        file("refused.wasm"),
      );
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /error: UNKNOWN_KEY: /);
      assert.equal(existsSync(file("refused.wasm")), false, "nothing is written before verification");

      const pull = await graft(
        "pull",
        ref,
        "--policy",
        file("trust.yaml"),
        "--out",
        file("pulled.wasm"),
        "--config-out",
        file("pulled.json"),
      );
      assert.equal(pull.code, 0, pull.stderr);
      assert.ok((await readFile(file("pulled.wasm"))).equals(wasm));
      assert.deepEqual(JSON.parse(await readFile(file("pulled.json"), "utf8")), exampleConfig("sf-1"));
    });
  });
});
