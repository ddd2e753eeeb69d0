// The agent's API without an Envoy: who may call it, replays, answers signed by the pinned key,
// operation ids, the kill switch while the admin port is down, and its configuration file.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import { AgentCallError, AgentClient } from "../../src/agent/client.ts";
import { loadAgentConfig, type AgentConfig } from "../../src/agent/config.ts";
import { startAgent, type RunningAgent } from "../../src/agent/daemon.ts";
import { signRequest } from "../../src/agent/request-auth.ts";
import { listFilters } from "../../src/filters/catalog.ts";
import { scaffoldFilter } from "../../src/filters/scaffold.ts";
import { ensureSlotFile, readSlotFile } from "../../src/inject/ecds-file.ts";
import { disableThroughAgents } from "../../src/inject/agent-fleet.ts";
import type { Target } from "../../src/inject/target.ts";
import { generateKeyPair, signingKeyFromPem } from "../../src/sign/keys.ts";
import { controller, mallory, roots, signedPolicy, SLOT } from "./support/agent-fleet.ts";

describe("the agent API", () => {
  let dir = "";
  let agent: RunningAgent;
  let target: Target;
  let config: AgentConfig;
  const agentKey = signingKeyFromPem(generateKeyPair().privateKeyPem);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "graft-agent-api-"));
    await ensureSlotFile(path.join(dir, "ecds"), SLOT);
    await writeFile(path.join(dir, "policy.dsse.json"), JSON.stringify(signedPolicy({ serial: 1 })));
    config = {
      source: "agent.yaml",
      name: "lonely",
      labels: {},
      listen: { host: "127.0.0.1", port: 0 },
      // Nothing listens here: the Envoy's admin port is down.
      envoy: { admin: "http://127.0.0.1:9", ecdsDir: path.join(dir, "ecds"), slots: [SLOT] },
      moduleStore: path.join(dir, "store"),
      moduleStoreMode: 0o700,
      stateDir: path.join(dir, "state"),
      key: agentKey,
      trustRoot: {
        keys: roots.map((r) => ({ keyId: r.key.keyId, publicKey: r.key.publicKey })),
        threshold: 2,
      },
      policyFile: path.join(dir, "policy.dsse.json"),
      auditLog: path.join(dir, "audit.log"),
      callers: [
        { name: "ops-ctl", key: { keyId: controller.key.keyId, publicKey: controller.key.publicKey } },
      ],
      enforceIntervalMs: 60_000,
      filters: [],
    };
    agent = await startAgent(config);
    target = {
      name: "lonely",
      adminUrl: "",
      ecdsDir: "",
      moduleDir: "",
      labels: {},
      slots: [SLOT],
      agent: { url: agent.url, keyId: agentKey.keyId, publicKey: agentKey.publicKey },
    };
  });
  after(async () => {
    await agent?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const code = async (promise: Promise<unknown>) => {
    try {
      await promise;
      return "ok";
    } catch (error) {
      return (error as AgentCallError).code;
    }
  };

  it("answers a known caller, signed by the agent's key", async () => {
    const status = await new AgentClient("lonely", target.agent!, controller.key).call<{ agent: string }>(
      "GET",
      "/v1/status",
    );
    assert.equal(status.agent, "lonely");
  });

  it("refuses an unknown caller, a request for another agent, a replay and a stale timestamp", async () => {
    assert.equal(
      await code(new AgentClient("lonely", target.agent!, mallory.key).call("GET", "/v1/status")),
      "UNAUTHENTICATED",
    );
    assert.equal(
      await code(new AgentClient("other", target.agent!, controller.key).call("GET", "/v1/status")),
      "AGENT_UNVERIFIED",
    );
    const headers = signRequest("lonely", "GET", "/v1/status", "", controller.key);
    assert.equal((await fetch(`${agent.url}/v1/status`, { headers })).status, 200);
    const replayed = await fetch(`${agent.url}/v1/status`, { headers });
    assert.equal(replayed.status, 401);
    assert.match(await replayed.text(), /REPLAYED/);
    const stale = signRequest("lonely", "GET", "/v1/status", "", controller.key, Date.now() - 120_000);
    assert.match(await (await fetch(`${agent.url}/v1/status`, { headers: stale })).text(), /STALE_REQUEST/);
  });

  it("refuses an answer not signed by the pinned key (something else at that address)", async () => {
    const impostor = signingKeyFromPem(generateKeyPair().privateKeyPem);
    const pinned = { ...target.agent!, keyId: impostor.keyId, publicKey: impostor.publicKey };
    assert.equal(
      await code(new AgentClient("lonely", pinned, controller.key).call("GET", "/v1/status")),
      "AGENT_UNVERIFIED",
    );
  });

  it("kill switch with the admin port down: no-op slot files written first, reported unconfirmed", async () => {
    const report = await disableThroughAgents([target], {
      caller: controller.key,
      operationId: "kill-admin-down",
    });
    assert.deepEqual(report.failures, []);
    assert.equal(report.results[0]!.outcome, "disabled");
    assert.equal(report.results[0]!.confirmed, false);
    const file = await readSlotFile(path.join(dir, "ecds"), SLOT);
    assert.equal(file?.version, report.results[0]!.version);
    assert.match(file!.version, /^disabled#/);
    // The same operation id is answered from memory; another action under it is refused.
    const again = await disableThroughAgents([target], {
      caller: controller.key,
      operationId: "kill-admin-down",
    });
    assert.equal(again.results[0]!.replayed, true);
    const client = new AgentClient("lonely", target.agent!, controller.key);
    assert.equal(
      await code(client.call("POST", "/v1/rollback", { operationId: "kill-admin-down", slot: SLOT })),
      "OPERATION_ID_REUSED",
    );
  });
});

describe("the agent configuration file", () => {
  it("reads a configuration, and names the field of an unknown key or a private key given as public", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "graft-agent-config-"));
    try {
      const agentPair = generateKeyPair();
      await writeFile(path.join(dir, "agent.key.pem"), agentPair.privateKeyPem);
      await writeFile(path.join(dir, "root.pub.pem"), roots[0]!.pair.publicKeyPem);
      const base = {
        name: "payments-1",
        labels: { tier: "payments" },
        listen: "127.0.0.1:7070",
        envoy: { admin: "http://127.0.0.1:9901", ecdsDir: "ecds", slots: [SLOT] },
        moduleStore: "store",
        stateDir: "state",
        key: "agent.key.pem",
        trustRoot: { threshold: 1, keys: [{ publicKeyPath: "root.pub.pem" }] },
        policy: "policy.dsse.json",
        auditLog: "audit.log",
        callers: [{ name: "ops", publicKey: controller.pair.publicKeyPem }],
      };
      const file = path.join(dir, "agent.yaml");
      await writeFile(file, yaml.dump(base));
      const config = await loadAgentConfig(file);
      assert.equal(config.envoy.ecdsDir, path.join(dir, "ecds"));
      assert.equal(config.trustRoot.threshold, 1);
      await writeFile(file, yaml.dump({ ...base, lables: { tier: "web" } }));
      await assert.rejects(loadAgentConfig(file), /agent\.yaml: lables: unknown field/);
      await writeFile(
        file,
        yaml.dump({ ...base, callers: [{ name: "ops", publicKey: controller.pair.privateKeyPem }] }),
      );
      await assert.rejects(loadAgentConfig(file), /callers\[0\]\.publicKey: .*holds a private key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("lists filter folders of its own, relative to the file, and names the entry and the fix of a bad one", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "graft-agent-filters-"));
    try {
      const agentPair = generateKeyPair();
      await writeFile(path.join(dir, "agent.key.pem"), agentPair.privateKeyPem);
      const base = {
        name: "edge-1",
        envoy: { admin: "http://127.0.0.1:9901", ecdsDir: "ecds", slots: [SLOT] },
        moduleStore: "store",
        stateDir: "state",
        key: "agent.key.pem",
        trustRoot: { keys: [{ publicKey: roots[0]!.pair.publicKeyPem }] },
        policy: "policy.dsse.json",
        auditLog: "audit.log",
        callers: [{ name: "ops", publicKey: controller.pair.publicKeyPem }],
      };
      // Two filters of an author's own, one of them twice (another copy under the same name).
      const own = await scaffoldFilter("block-admin", path.join(dir, "mine"));
      const copy = await scaffoldFilter("block-admin", path.join(dir, "copy"));
      const other = await scaffoldFilter("tag-responses", path.join(dir, "mine"));
      const file = path.join(dir, "agent.yaml");
      const load = async (filters: unknown) => {
        await writeFile(file, yaml.dump({ ...base, filters }));
        return loadAgentConfig(file);
      };

      assert.deepEqual((await load(undefined)).filters, []);
      const config = await load(["mine/block-admin", other]);
      assert.deepEqual(
        config.filters.map((filter) => [filter.name, filter.dir]),
        [
          ["block-admin", own],
          ["tag-responses", other],
        ],
      );
      await assert.rejects(
        load("mine/block-admin"),
        /agent\.yaml: filters: expected a list of filter folders; fix: write filters: \[<folder>, …\]/,
      );
      await assert.rejects(
        load(["mine"]),
        /agent\.yaml: filters\[0\]: .*mine holds no filter\.json; fix: give the folder of a filter/,
      );
      await assert.rejects(
        load(["mine/block-admin", "copy/block-admin"]),
        new RegExp(
          `agent\\.yaml: filters\\[1\\]: ${copy} is a filter named "block-admin", and so is filters\\[0\\] \\(${own}\\); fix: list one filter per name`,
        ),
      );
      await writeFile(path.join(own, "filter.json"), "{}");
      await assert.rejects(
        load(["mine/block-admin"]),
        /agent\.yaml: filters\[0\]: .*filter\.json: does not match the filter contract schema[\s\S]*; fix: fix the filter's contract/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const builtIn = listFilters()[0];
  it(
    "refuses a filter folder whose name one of graft's filters/ has",
    { skip: builtIn ? false : "this checkout has no filters/" },
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), "graft-agent-filters-"));
      try {
        await writeFile(path.join(dir, "agent.key.pem"), generateKeyPair().privateKeyPem);
        // A filter of one's own under the name of one of graft's.
        const own = await scaffoldFilter(builtIn!.name, path.join(dir, "mine"));
        await writeFile(
          path.join(dir, "agent.yaml"),
          yaml.dump({
            name: "edge-1",
            envoy: { admin: "http://127.0.0.1:9901", ecdsDir: "ecds", slots: [SLOT] },
            moduleStore: "store",
            stateDir: "state",
            key: "agent.key.pem",
            trustRoot: { keys: [{ publicKey: roots[0]!.pair.publicKeyPem }] },
            policy: "policy.dsse.json",
            auditLog: "audit.log",
            callers: [{ name: "ops", publicKey: controller.pair.publicKeyPem }],
            filters: [`mine/${builtIn!.name}`],
          }),
        );
        await assert.rejects(
          loadAgentConfig(path.join(dir, "agent.yaml")),
          new RegExp(
            `filters\\[0\\]: ${own} is a filter named "${builtIn!.name}", and so is graft's own ${builtIn!.dir}; fix: give your filter another name`,
          ),
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
