// SPDX-License-Identifier: Apache-2.0
// The real mesh, end to end: etcd 3.6, kube-apiserver v1.36.1, stock istiod and a plain Envoy 1.40, all
// inside a private network namespace. A WasmPlugin rendered by `graft istio plugin` goes into the API
// server, istiod turns it into an ECDS Wasm filter, Envoy rewrites live traffic; a patch reaches Envoy and
// a delete removes the filter; graft's admission webhook, registered with the API server, admits a signed
// WasmPlugin and denies a tampered one; an oci:// WasmPlugin runs through pilot-agent, which pulls the
// image graft pushed to a registry. Binaries come from scripts/mesh-tools (npm run test:mesh builds them).
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, it, test } from "node:test";
import { findFilter } from "../../src/filters/catalog.ts";
import { renderWasmPlugin, type WasmPlugin } from "../../src/mesh/istio/wasmplugin.ts";
import { pushWasmImage } from "../../src/mesh/oci/push.ts";
import { parseImageReference } from "../../src/mesh/oci/reference.ts";
import { RegistryClient } from "../../src/mesh/oci/registry-client.ts";
import { sha256Hex } from "../../src/sign/statement.ts";
import { registrySkipReason, startRegistry } from "../support/registry.ts";
import {
  ENFORCED_LABEL,
  registerWebhook,
  serveModule,
  startAdmission,
  WEBHOOK_NAME,
} from "./support/admission.ts";
import { startApiServer, startEtcd, startIstiod } from "./support/control-plane.ts";
import {
  APP_LISTENER,
  ecdsFilters,
  ENVOY_GID,
  ENVOY_OUTBOUND_PORT,
  httpFilterNames,
  startSidecar,
} from "./support/envoy-sidecar.ts";
import { graftIstioPlugin } from "./support/graft-cli.ts";
import { startAgentSidecar } from "./support/istio-agent.ts";
import { APP, appObjects, applyCrds, crdsToApply, namespace } from "./support/istio-objects.ts";
import { objectPath, statusMessage, type KubeApi, type KubeObject } from "./support/kube-api.ts";
import { createMeshPki, type MeshPki } from "./support/pki.ts";
import {
  insidePrivateNetns,
  prepareInsideNetns,
  privateNetnsSkipReason,
  redirectToEnvoy,
  runInPrivateNetns,
} from "./support/private-netns.ts";
import { ProcessGroup, type ManagedProcess } from "./support/processes.ts";
import { newApprover, signedEnvelope, trustPolicy } from "./support/signing.ts";
import { Timeline } from "./support/timeline.ts";
import { resolveMeshTools, type MeshTools } from "./support/tools.ts";
import { callApp, startBackend, type Backend } from "./support/traffic.ts";
import { waitFor } from "./support/wait.ts";

/** The whole inner run (stack start, checks, teardown): about 11 s here; GRAFT_MESH_E2E_TIMEOUT_MS overrides. */
const INNER_RUN_TIMEOUT_MS = Number(process.env.GRAFT_MESH_E2E_TIMEOUT_MS ?? 180_000);
const PROPAGATION_TIMEOUT_MS = 15_000;
const FILTER = findFilter("header-rewrite");

/** header-rewrite's configuration for the checks: set x-graft on every response. */
function headerRewriteConfig(value: string): {
  rules: { name: string; response: { op: string; name: string; value: string }[] }[];
} {
  return { rules: [{ name: "e2e", response: [{ op: "set", name: "x-graft", value }] }] };
}

if (!insidePrivateNetns()) {
  test("real mesh end to end (etcd, kube-apiserver, istiod, Envoy in a private network namespace)", async (t) => {
    const tools = resolveMeshTools();
    if ("skip" in tools) return t.skip(tools.skip);
    const netnsSkip = privateNetnsSkipReason();
    if (netnsSkip) return t.skip(netnsSkip);
    // Everything the inner run writes goes under this folder (its TMPDIR), which is removed here even if
    // the inner run was killed before its own cleanup.
    const scratch = mkdtempSync(path.join(tmpdir(), "graft-mesh-e2e-"));
    try {
      const run = await runInPrivateNetns(
        process.execPath,
        ["--import", "tsx", "--test-reporter=spec", import.meta.filename],
        { env: { TMPDIR: scratch }, timeoutMs: INNER_RUN_TIMEOUT_MS, netnsFile: path.join(scratch, "netns") },
      );
      assert.equal(
        run.timedOut,
        false,
        `the inner run did not finish within ${INNER_RUN_TIMEOUT_MS / 1000} s`,
      );
      assert.deepEqual(run.reaped, [], "processes were left in the private network namespace (killed now)");
      assert.equal(
        run.code,
        0,
        `the inner run failed (exit ${run.code}, signal ${run.signal}); see its output above`,
      );
    } finally {
      if (process.env.GRAFT_MESH_E2E_KEEP !== "1") rmSync(scratch, { recursive: true, force: true });
    }
  });
} else {
  describe("real mesh (inside the private network namespace)", () => {
    const timeline = new Timeline();
    const processes = new ProcessGroup();
    let tools: MeshTools;
    let workDir: string;
    let pki: MeshPki;
    let api: KubeApi;
    let backend: Backend;
    let envoy: ManagedProcess;
    let modulePath: string;
    /** `graft istio plugin`'s output, rendered while the stack starts (the CLI takes a second or more). */
    let renderedByCli: Promise<WasmPlugin>;
    let module: Buffer;
    const cleanups: (() => Promise<void> | void)[] = [];
    process.once("exit", () => processes.killAllNow());

    before(async () => {
      const resolved = resolveMeshTools();
      if ("skip" in resolved) throw new Error(resolved.skip);
      tools = resolved;
      prepareInsideNetns();
      workDir = mkdtempSync(path.join(tmpdir(), "run-"));
      // A private copy: a rebuild of build/ during the run must not change what Envoy loads.
      modulePath = path.join(workDir, "header-rewrite.wasm");
      copyFileSync(tools.headerRewriteModule, modulePath);
      module = readFileSync(modulePath);
      renderedByCli = graftIstioPlugin(
        {
          filter: FILTER.name,
          name: "header-rewrite",
          namespace: APP.namespace,
          url: `file://${modulePath}`,
          configuration: headerRewriteConfig("via-wasmplugin"),
          selector: { ...APP.labels },
          phase: "STATS",
        },
        workDir,
      );
      renderedByCli.catch(() => {}); // awaited (and reported) by the first check
      pki = createMeshPki(workDir);
      timeline.mark("PKI made (openssl)");
      await startEtcd(processes, tools.etcd, workDir);
      timeline.mark("etcd healthy");
      ({ api } = await startApiServer(processes, tools.kubeApiserver, workDir, pki));
      cleanups.push(() => api.close());
      timeline.mark("kube-apiserver /readyz");
      await applyCrds(api, crdsToApply(tools.istioCrds));
      for (const object of appObjects()) await api.apply(object);
      timeline.mark("CRDs established, app objects applied");
      await startIstiod(processes, tools.pilotDiscovery, workDir, pki);
      timeline.mark("istiod /ready");
      backend = await startBackend();
      cleanups.push(() => backend.close());
      redirectToEnvoy(APP.servicePort, ENVOY_OUTBOUND_PORT, ENVOY_GID);
      envoy = await startSidecar(processes, tools.envoy, workDir);
      timeline.mark(`Envoy has ${APP_LISTENER} from istiod`);
      await untilAppAnswers(envoy);
      timeline.mark("the app answers through Envoy");
    });

    // A failed check prints what the control plane and the proxy said (the run's folder is removed after).
    afterEach(async (t) => {
      if (!("passed" in t) || t.passed) return;
      for (const running of processes.list().filter((p) => p.name !== "etcd"))
        console.log(`--- ${running.name} log, last lines ---\n${running.logTail(30)}`);
    });

    after(async () => {
      await processes.stopAll();
      for (const cleanup of cleanups.reverse()) await cleanup();
      timeline.mark("teardown done");
      console.log(`mesh-e2e timeline (from the start of the run):\n${timeline.render()}`);
      // GRAFT_MESH_E2E_KEEP=1 keeps the logs, configurations and PKI of the run for a post-mortem.
      if (workDir && process.env.GRAFT_MESH_E2E_KEEP === "1") console.log(`mesh-e2e: kept ${workDir}`);
      else if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    /** graft's renderer, as `graft istio plugin` uses it: the module by file:// URL, selecting the app. */
    function headerRewritePlugin(
      value: string,
      extra: Partial<Parameters<typeof renderWasmPlugin>[0]> = {},
    ): WasmPlugin {
      return renderWasmPlugin({
        filter: FILTER,
        name: "header-rewrite",
        namespace: APP.namespace,
        url: `file://${modulePath}`,
        configuration: headerRewriteConfig(value),
        configurationSource: "mesh-e2e",
        selector: { ...APP.labels },
        phase: "STATS",
        ...extra,
      });
    }

    /** An active listener is not yet a working route: its cluster's endpoints (EDS) may still be on the way. */
    async function untilAppAnswers(sidecar: ManagedProcess): Promise<void> {
      await waitFor(
        "HTTP 200 from the app through Envoy",
        async () => ((await callApp()).status === 200 ? true : undefined),
        { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 50, process: sidecar },
      );
    }

    /** Polls live traffic until the response's x-graft header is `expected` (undefined: absent). */
    async function untilHeader(expected: string | undefined, what: string): Promise<number> {
      const start = performance.now();
      await waitFor(
        what,
        async () => {
          const response = await callApp();
          return response.status === 200 && response.headers["x-graft"] === expected ? true : undefined;
        },
        { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 50 },
      );
      return performance.now() - start;
    }

    it("turns a WasmPlugin into an ECDS Wasm filter that rewrites live traffic", async () => {
      const before = await callApp();
      assert.equal(before.status, 200, "the app answers through Envoy before any WasmPlugin");
      assert.equal(before.headers["x-graft"], undefined);

      const plugin = await renderedByCli;
      assert.deepEqual(
        plugin,
        headerRewritePlugin("via-wasmplugin"),
        "the CLI renders what renderWasmPlugin does",
      );
      const created = await api.create(plugin as unknown as KubeObject);
      assert.equal(created.status, 201, statusMessage(created));
      const ms = await untilHeader("via-wasmplugin", "x-graft from the WasmPlugin in live traffic");
      timeline.duration("WasmPlugin create -> first rewritten response", ms);
      timeline.mark("WasmPlugin live in Envoy");

      const wasm = (await ecdsFilters()).find((filter) => filter.name.includes("header-rewrite"));
      assert.ok(wasm, "Envoy's config_dump has the Wasm filter among its ECDS filters");
      const config = wasm.typedConfig as {
        "@type": string;
        config?: {
          root_id?: string;
          vm_config?: { code?: { local?: { filename?: string } } };
          configuration?: { value?: string };
        };
      };
      assert.equal(config["@type"], "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm");
      assert.equal(config.config?.root_id, FILTER.rootId, "pluginName became the root id");
      assert.equal(config.config?.vm_config?.code?.local?.filename, modulePath);
      assert.deepEqual(JSON.parse(config.config?.configuration?.value ?? "null"), plugin.spec.pluginConfig);
      const chain = await httpFilterNames(APP_LISTENER);
      assert.equal(chain[0], wasm.name, `the Wasm filter runs first in ${APP_LISTENER}: ${chain.join(", ")}`);
      assert.ok(backend.requests() >= 2, "the requests reached the backend");
    });

    it("carries a patch of the WasmPlugin to Envoy", async () => {
      const plugin = headerRewritePlugin("patched-live");
      const patched = await api.request(
        "PATCH",
        objectPath(plugin as unknown as KubeObject),
        { spec: plugin.spec },
        "application/merge-patch+json",
      );
      assert.equal(patched.status, 200, statusMessage(patched));
      const ms = await untilHeader("patched-live", "x-graft from the patched WasmPlugin");
      timeline.duration("WasmPlugin patch -> first response with the new value", ms);
    });

    it("removes the filter from Envoy when the WasmPlugin is deleted", async () => {
      const plugin = headerRewritePlugin("patched-live");
      const deleted = await api.request("DELETE", objectPath(plugin as unknown as KubeObject));
      assert.equal(deleted.status, 200, statusMessage(deleted));
      const start = performance.now();
      await untilHeader(undefined, "no x-graft after the delete");
      await waitFor(
        `the Wasm filter gone from ${APP_LISTENER}`,
        async () =>
          (await httpFilterNames(APP_LISTENER)).some((name) => name.includes("header-rewrite"))
            ? undefined
            : true,
        { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 50 },
      );
      timeline.duration("WasmPlugin delete -> header and filter gone", performance.now() - start);
    });

    it("admits a signed WasmPlugin and denies a tampered one through the API server's webhook", async () => {
      const approver = newApprover("mesh-e2e-approver");
      const admission = await startAdmission(pki, trustPolicy([approver]));
      cleanups.push(() => admission.close());
      const served = await serveModule(module, "header-rewrite.wasm");
      cleanups.push(() => served.close());
      await api.apply(namespace("guarded", ENFORCED_LABEL));
      await registerWebhook(api, admission.webhook.url, pki.caCert);

      const configuration = {
        rules: [{ name: "signed", response: [{ op: "set", name: "x-graft", value: "approved" }] }],
      };
      const signed = renderWasmPlugin({
        filter: FILTER,
        name: "signed",
        namespace: "guarded",
        url: served.url,
        sha256: sha256Hex(module),
        configuration,
        configurationSource: "mesh-e2e",
        // No workload carries this label: the point here is the API server's decision, not traffic.
        selector: { app: "nobody" },
        envelopeJson: signedEnvelope(approver, {
          module,
          filter: FILTER.name,
          injectionId: "static",
          configuration,
        }),
      });
      const tampered = structuredClone(signed);
      tampered.metadata.name = "tampered";
      (tampered.spec.pluginConfig as typeof configuration).rules[0]!.response[0]!.value =
        "not-what-was-signed";

      // The API server picks up a new webhook configuration asynchronously: dry-run until it is in force.
      const start = performance.now();
      await waitFor(
        "the webhook in force (a dry-run create of the tampered WasmPlugin denied by it)",
        async () => {
          const dryRun = await api.create(tampered as unknown as KubeObject, "?dryRun=All");
          return dryRun.status !== 201 && statusMessage(dryRun).includes(WEBHOOK_NAME) ? true : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      timeline.duration("ValidatingWebhookConfiguration apply -> in force", performance.now() - start);

      const admitted = await api.create(signed as unknown as KubeObject);
      assert.equal(admitted.status, 201, `the signed WasmPlugin is admitted: ${statusMessage(admitted)}`);
      const denied = await api.create(tampered as unknown as KubeObject);
      assert.equal(denied.status, 403, `the tampered WasmPlugin is denied: ${statusMessage(denied)}`);
      assert.match(
        statusMessage(denied),
        new RegExp(`admission webhook "${WEBHOOK_NAME}" denied the request: graft: `),
      );
      const stored = await api.request("GET", objectPath(tampered as unknown as KubeObject));
      assert.equal(stored.status, 404, "the tampered WasmPlugin was not stored");
      assert.ok(
        admission.decisions.some((d) => d.allowed) && admission.decisions.some((d) => !d.allowed),
        "the webhook itself made both decisions",
      );
      console.log(`mesh-e2e: the API server's denial: ${statusMessage(denied)}`);
    });

    // Istio's own path for oci:// modules: pilot-agent beside Envoy pulls the image and hands Envoy a file.
    it("runs an oci:// WasmPlugin through pilot-agent, pulled from a registry", async (t) => {
      const skip =
        !tools.pilotAgent || !tools.envoyBootstrapTemplate
          ? "pilot-agent or Istio's bootstrap template is not built (scripts/mesh-tools)"
          : registrySkipReason();
      if (skip) return t.skip(skip);
      const registry = await startRegistry();
      cleanups.push(() => registry.stop());
      const reference = parseImageReference(`${registry.host}/graft/header-rewrite:e2e`);
      const pushed = await pushWasmImage({
        client: new RegistryClient({ registry: registry.host }),
        reference,
        wasm: module,
      });

      await envoy.stop();
      const start = performance.now();
      const agent = await startAgentSidecar(
        processes,
        {
          pilotAgent: tools.pilotAgent!,
          envoy: tools.envoy,
          bootstrapTemplate: tools.envoyBootstrapTemplate!,
        },
        workDir,
        pki,
      );
      await untilAppAnswers(agent);
      timeline.duration("pilot-agent start -> the app answers through its Envoy", performance.now() - start);

      const plugin = headerRewritePlugin("via-oci", {
        name: "header-rewrite-oci",
        url: `oci://${registry.host}/graft/header-rewrite:e2e`,
        sha256: pushed.manifestDigest.slice("sha256:".length),
      });
      const created = await api.create(plugin as unknown as KubeObject);
      assert.equal(created.status, 201, statusMessage(created));
      const ms = await untilHeader("via-oci", "x-graft from the oci:// WasmPlugin in live traffic");
      timeline.duration("oci:// WasmPlugin create -> first rewritten response (agent pull included)", ms);
      const wasm = (await ecdsFilters()).find((filter) => filter.name.includes("header-rewrite-oci"));
      const filename = (
        wasm?.typedConfig as { config?: { vm_config?: { code?: { local?: { filename?: string } } } } }
      )?.config?.vm_config?.code?.local?.filename;
      assert.ok(filename && filename !== modulePath, `Envoy runs the agent's pulled copy (${filename})`);
      // The file is in the agent's own mount namespace (see istio-agent.ts): read it through the agent's root.
      assert.deepEqual(
        readFileSync(`/proc/${agent.pid}/root${filename}`),
        module,
        "the pulled module is the pushed one",
      );
    });

    it("leaves no rejected configuration in the logs of istiod, Envoy and pilot-agent", () => {
      for (const running of processes.list()) {
        const rejections = running
          .log()
          .split("\n")
          .filter((line) => /ACK ERROR|config rejected|rejected:/.test(line));
        assert.deepEqual(rejections, [], `${running.name} reported rejected configuration`);
      }
    });
  });
}
