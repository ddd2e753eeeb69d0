// Envoy in a Docker container (src/envoy/container.ts): proxying, stats, concurrency, start
// failures with Envoy's reasons, ECDS through a mounted directory, and no leftover containers.
// Needs a Docker engine (scripts/setup-docker); skips with the reason when none is reachable.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import yaml from "js-yaml";
import {
  dockerAvailable,
  EnvoyContainer,
  ensureEnvoyImage,
  graftContainers,
} from "../../src/envoy/container.ts";
import { EnvoyStartError } from "../../src/envoy/launcher.ts";
import { EchoUpstream, type EchoedRequest } from "../../src/upstream/echo.ts";

const docker = await dockerAvailable();
const skip = docker.ok ? false : `skipped: ${docker.reason}`;
if (!docker.ok) console.log(`# container tests ${skip}`);

/** Set on every container of this run, so leftovers of this run (only) can be found. */
const run = { "graft.test": "1", "graft.test.run": randomUUID() };

async function statValue(envoy: EnvoyContainer, name: string, atLeast: number): Promise<number | undefined> {
  // Counters reach the admin API a little after the response; poll briefly.
  const deadline = Date.now() + 3_000;
  let value: number | undefined;
  while (Date.now() < deadline) {
    value = (await envoy.stats(name)).values.get(name);
    if (value !== undefined && value >= atLeast) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return value;
}

describe("EnvoyContainer", { skip }, () => {
  let echo: EchoUpstream;
  const started: EnvoyContainer[] = [];
  const scratch: string[] = [];

  async function start(
    options: Omit<Parameters<typeof EnvoyContainer.start>[0], "upstream">,
  ): Promise<EnvoyContainer> {
    const envoy = await EnvoyContainer.start({
      upstream: { host: "127.0.0.1", port: echo.port },
      labels: run,
      ...options,
    });
    started.push(envoy);
    return envoy;
  }

  before(async () => {
    echo = await EchoUpstream.start();
    const began = Date.now();
    const image = await ensureEnvoyImage();
    console.log(`# image ${image} ready in ${Date.now() - began} ms`);
  });

  after(async () => {
    // Stop everything even when a test failed, then prove nothing of this run is left.
    await Promise.allSettled(started.map((envoy) => envoy.stop()));
    await echo?.stop();
    await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
    const left = await graftContainers(run);
    assert.deepEqual(left, [], `containers left behind: ${JSON.stringify(left)}`);
  });

  test("proxies a request through one listener with no filters and counts it", async () => {
    const began = Date.now();
    const envoy = await start({ label: "plain", listeners: [{ name: "plain", httpFilters: [] }] });
    console.log(`# container ready in ${Date.now() - began} ms (validate + create + start + /ready)`);

    const url = await envoy.listenerUrl("plain");
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${url}/hello?x=1`, {
      method: "POST",
      body: "ping",
      headers: { "x-test": "container" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-echo-upstream"), "graft-echo");
    const echoed = (await response.json()) as EchoedRequest;
    assert.equal(echoed.method, "POST");
    assert.equal(echoed.path, "/hello?x=1");
    assert.equal(echoed.headers["x-test"], "container");
    assert.equal(Buffer.from(echoed.bodyBase64, "base64").toString(), "ping");
    // Envoy, not the client, reached the upstream.
    assert.ok(echoed.headers["x-request-id"], "Envoy adds x-request-id");

    assert.equal(await statValue(envoy, "http.plain.downstream_rq_2xx", 1), 1);
    assert.equal(await statValue(envoy, "cluster.upstream.upstream_rq_2xx", 1), 1);
    assert.match(envoy.logs(), /starting main dispatch loop/);
    // Envoy runs as the image's non-root user.
    assert.ok(envoy.pid, "the container's pid is known");
    const status = await readFile(`/proc/${envoy.pid}/status`, "utf8");
    assert.match(status, /^Uid:\s+101\s/m);
    await envoy.waitForLog(/all dependencies initialized/);
    const dump = (await envoy.configDump("?resource=static_listeners")) as { configs: unknown[] };
    assert.equal(dump.configs.length, 1);
  });

  test("runs with concurrency 2", async () => {
    const envoy = await start({
      label: "two-workers",
      concurrency: 2,
      listeners: [{ name: "two", httpFilters: [] }],
    });
    assert.equal((await envoy.stats("server.concurrency")).values.get("server.concurrency"), 2);
    const url = await envoy.listenerUrl("two");
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async (_, index) => {
        const response = await fetch(`${url}/req/${index}`);
        await response.arrayBuffer();
        return response.status;
      }),
    );
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(await statValue(envoy, "http.two.downstream_rq_2xx", 20), 20);
    assert.match(envoy.logs(), /starting worker: 1/);
  });

  test("two containers run side by side on the host network", async () => {
    const [first, second] = await Promise.all([
      start({ label: "side-a", listeners: [{ name: "a", httpFilters: [] }] }),
      start({ label: "side-b", listeners: [{ name: "b", httpFilters: [] }] }),
    ]);
    for (const [envoy, name] of [
      [first, "a"],
      [second, "b"],
    ] as const) {
      const response = await fetch(`${await envoy.listenerUrl(name)}/`);
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
    assert.notEqual(first.admin.baseUrl, second.admin.baseUrl);
  });

  test("a bad bootstrap fails with Envoy's reason", async () => {
    const bogus = { name: "bogus", typed_config: { "@type": "type.googleapis.com/graft.DoesNotExist" } };
    await assert.rejects(
      start({ label: "bad", listeners: [{ name: "bad", httpFilters: [bogus] }] }),
      (error: unknown) => {
        assert.ok(error instanceof EnvoyStartError, String(error));
        assert.match(error.message, /graft\.DoesNotExist/);
        assert.match(error.log, /graft\.DoesNotExist/);
        return true;
      },
    );
  });

  test("an Envoy that dies in the container reports its log", async () => {
    // Valid config (validate mode binds nothing), but the port is taken by the echo upstream.
    await assert.rejects(
      start({ label: "taken", listeners: [{ name: "taken", httpFilters: [], port: echo.port }] }),
      (error: unknown) => {
        assert.ok(error instanceof EnvoyStartError, String(error));
        assert.match(error.message, /taken exited with code \d+ before it was ready/);
        assert.match(error.log, /cannot bind|Address already in use/i);
        return true;
      },
    );
  });

  test("ECDS files in a mounted directory are reloaded on rename", async () => {
    const ecdsDir = await mkdtemp(path.join(tmpdir(), "graft-ecds-test-"));
    scratch.push(ecdsDir);
    const slot = "graft.slot.a";
    const slotFile = path.join(ecdsDir, `${slot}.yaml`);
    const headerMutation = (value: string) => ({
      "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
      mutations: {
        response_mutations: [
          { append: { header: { key: "x-graft-slot", value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } },
        ],
      },
    });
    const publish = async (version: string) => {
      const temp = path.join(ecdsDir, `.${slot}.${version}.tmp`);
      const response = {
        version_info: version,
        resources: [
          {
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            name: slot,
            typed_config: headerMutation(version),
          },
        ],
      };
      await writeFile(temp, yaml.dump(response));
      await rename(temp, slotFile);
    };
    await publish("v1");

    const envoy = await start({
      label: "ecds",
      listeners: [
        {
          name: "ecds",
          httpFilters: [
            {
              name: slot,
              config_discovery: {
                config_source: { path_config_source: { path: slotFile } },
                type_urls: [
                  "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                ],
              },
            },
          ],
        },
      ],
    });
    const url = await envoy.listenerUrl("ecds");
    const header = async () => {
      const response = await fetch(`${url}/`);
      await response.arrayBuffer();
      return response.headers.get("x-graft-slot");
    };
    assert.equal(await header(), "v1");

    await publish("v2");
    const deadline = Date.now() + 5_000;
    let seen = await header();
    while (seen !== "v2" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = await header();
    }
    assert.equal(
      seen,
      "v2",
      `the rename on the host was not seen in the container:\n${envoy.logs().slice(-2000)}`,
    );
  });

  test("files named by filters are mounted read-only and made readable for uid 101", async () => {
    // Stands in for a Wasm module (`code.local.filename`): a Lua script file, private to its owner.
    const scriptDir = await mkdtemp(path.join(tmpdir(), "graft-lua-test-"));
    scratch.push(scriptDir);
    const script = path.join(scriptDir, "add-header.lua");
    await writeFile(
      script,
      'function envoy_on_response(handle)\n  handle:headers():add("x-graft-lua", "mounted")\nend\n',
      { mode: 0o600 },
    );
    const lua = {
      name: "envoy.filters.http.lua",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code: { filename: script },
      },
    };
    const envoy = await start({ label: "lua", listeners: [{ name: "lua", httpFilters: [lua] }] });
    const response = await fetch(`${await envoy.listenerUrl("lua")}/`);
    await response.arrayBuffer();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-graft-lua"), "mounted");
  });

  test("stop() removes the container", async () => {
    const envoy = await start({ label: "stopper", listeners: [{ name: "stopper", httpFilters: [] }] });
    const id = envoy.id;
    assert.ok(id);
    assert.equal((await graftContainers({ ...run, "graft.label": "stopper" })).length, 1);
    await envoy.stop();
    assert.deepEqual(await graftContainers({ ...run, "graft.label": "stopper" }), []);
    await envoy.stop(); // a second stop is harmless
  });
});

test("Docker engine reachable for container tests", { skip }, () => {
  assert.ok(docker.ok);
});
