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
import type { FilterInfo } from "../../src/filters/catalog.ts";
import { renderWasmPlugin, type WasmPlugin } from "../../src/mesh/istio/wasmplugin.ts";
import { pushWasmImage } from "../../src/mesh/oci/push.ts";
import { parseImageReference } from "../../src/mesh/oci/reference.ts";
import { RegistryClient } from "../../src/mesh/oci/registry-client.ts";
import { envoysInPrometheus } from "../../src/observe/source.ts";
import { sha256Hex } from "../../src/sign/statement.ts";
import { registrySkipReason, startRegistry } from "../support/registry.ts";
import { sampleFilter } from "../support/sample-filter.ts";
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
  adminJson,
  CANARY_POD,
  httpFilterNames,
  STABLE_POD,
  startSidecar,
} from "./support/envoy-sidecar.ts";
import { graftIstioPlugin } from "./support/graft-cli.ts";
import { startAgentSidecar } from "./support/istio-agent.ts";
import { APP, appObjects, applyCrds, crdsToApply, namespace } from "./support/istio-objects.ts";
import {
  objectPath,
  statusMessage,
  type KubeApi,
  type KubeObject,
} from "../../src/mesh/kubernetes/client.ts";
import { createMeshPki, type MeshPki } from "./support/pki.ts";
import {
  insidePrivateNetns,
  prepareInsideNetns,
  privateNetnsSkipReason,
  redirectToEnvoy,
  runInPrivateNetns,
} from "./support/private-netns.ts";
import { ProcessGroup, type ManagedProcess } from "./support/processes.ts";
import { newApprover, signedEnvelope, trustPolicy, type Approver } from "./support/signing.ts";
import { Timeline } from "./support/timeline.ts";
import { resolveMeshTools, type MeshTools } from "./support/tools.ts";
import { callApp, startBackend, startLoad, type Backend, type Load } from "./support/traffic.ts";
import { graftRollout, writePolicyFile } from "./support/graft-rollout.ts";
import { prometheusMissing, TestPrometheus } from "../support/prometheus.ts";
import { waitFor } from "./support/wait.ts";

/** The whole inner run (stack start, checks, teardown): about 11 s here; GRAFT_MESH_E2E_TIMEOUT_MS overrides. */
const INNER_RUN_TIMEOUT_MS = Number(process.env.GRAFT_MESH_E2E_TIMEOUT_MS ?? 180_000);
const PROPAGATION_TIMEOUT_MS = 15_000;
/** The WasmPlugin the first checks create, patch and delete. */
const PLUGIN = "e2e-plugin";

/**
 * The configuration of the suite's filter (the one `graft new` writes, so the suite depends on no filter
 * of this repository): it tags every response with its injection id in the x-graft header.
 */
function taggingConfig(injectionId: string): { injection_id: string; response_header: string } {
  return { injection_id: injectionId, response_header: "x-graft" };
}

/** Whether an ECDS filter name is istiod's for the WasmPlugin `plugin` (its name is one part of it). */
function isEcdsOf(ecdsName: string, plugin: string): boolean {
  return ecdsName.split(/[./~]/).includes(plugin);
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
    let kubeconfig: string;
    let backend: Backend;
    let envoy: ManagedProcess;
    let modulePath: string;
    let filter: FilterInfo;
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
      // Scaffolded and built (about 7 s) while the control plane starts.
      const built = sampleFilter();
      built.catch(() => {}); // awaited below
      pki = createMeshPki(workDir);
      timeline.mark("PKI made (openssl)");
      await startEtcd(processes, tools.etcd, workDir);
      timeline.mark("etcd healthy");
      ({ api, kubeconfig } = await startApiServer(processes, tools.kubeApiserver, workDir, pki));
      cleanups.push(() => api.close());
      timeline.mark("kube-apiserver /readyz");
      await applyCrds(api, crdsToApply(tools.istioCrds));
      for (const object of appObjects()) await api.apply(object);
      timeline.mark("CRDs established, app objects applied");
      await startIstiod(processes, tools.pilotDiscovery, workDir, pki);
      timeline.mark("istiod /ready");
      filter = await built;
      // A private copy: Envoy loads this file, whatever happens to the build folder during the run.
      modulePath = path.join(workDir, `${filter.name}.wasm`);
      copyFileSync(filter.releaseWasm, modulePath);
      module = readFileSync(modulePath);
      timeline.mark(`${filter.name} built`);
      renderedByCli = graftIstioPlugin(
        {
          filter: filter.dir,
          name: PLUGIN,
          namespace: APP.namespace,
          url: `file://${modulePath}`,
          configuration: taggingConfig("via-wasmplugin"),
          selector: { ...APP.labels },
          phase: "STATS",
        },
        workDir,
      );
      renderedByCli.catch(() => {}); // awaited (and reported) by the first check
      backend = await startBackend();
      cleanups.push(() => backend.close());
      redirectToEnvoy(APP.servicePort, ENVOY_OUTBOUND_PORT, ENVOY_GID);
      envoy = await startSidecar(processes, tools.envoy, workDir, STABLE_POD, [filter]);
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
    function taggingPlugin(
      value: string,
      extra: Partial<Parameters<typeof renderWasmPlugin>[0]> = {},
    ): WasmPlugin {
      return renderWasmPlugin({
        filter,
        name: PLUGIN,
        namespace: APP.namespace,
        url: `file://${modulePath}`,
        configuration: taggingConfig(value),
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
      assert.deepEqual(plugin, taggingPlugin("via-wasmplugin"), "the CLI renders what renderWasmPlugin does");
      const created = await api.create(plugin as unknown as KubeObject);
      assert.equal(created.status, 201, statusMessage(created));
      const ms = await untilHeader("via-wasmplugin", "x-graft from the WasmPlugin in live traffic");
      timeline.duration("WasmPlugin create -> first rewritten response", ms);
      timeline.mark("WasmPlugin live in Envoy");

      const wasm = (await ecdsFilters()).find((ecds) => isEcdsOf(ecds.name, PLUGIN));
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
      assert.equal(config.config?.root_id, filter.rootId, "pluginName became the root id");
      assert.equal(config.config?.vm_config?.code?.local?.filename, modulePath);
      assert.deepEqual(JSON.parse(config.config?.configuration?.value ?? "null"), plugin.spec.pluginConfig);
      const chain = await httpFilterNames(APP_LISTENER);
      assert.equal(chain[0], wasm.name, `the Wasm filter runs first in ${APP_LISTENER}: ${chain.join(", ")}`);
      assert.ok(backend.requests() >= 2, "the requests reached the backend");
    });

    it("carries a patch of the WasmPlugin to Envoy", async () => {
      const plugin = taggingPlugin("patched-live");
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
      const plugin = taggingPlugin("patched-live");
      const deleted = await api.request("DELETE", objectPath(plugin as unknown as KubeObject));
      assert.equal(deleted.status, 200, statusMessage(deleted));
      const start = performance.now();
      await untilHeader(undefined, "no x-graft after the delete");
      await waitFor(
        `the Wasm filter gone from ${APP_LISTENER}`,
        async () =>
          (await httpFilterNames(APP_LISTENER)).some((name) => isEcdsOf(name, PLUGIN)) ? undefined : true,
        { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 50 },
      );
      timeline.duration("WasmPlugin delete -> header and filter gone", performance.now() - start);
    });

    it("admits a signed WasmPlugin and denies a tampered one through the API server's webhook", async () => {
      const approver = newApprover("mesh-e2e-approver");
      const admission = await startAdmission(pki, trustPolicy([approver]));
      cleanups.push(() => admission.close());
      const served = await serveModule(module, `${filter.name}.wasm`);
      cleanups.push(() => served.close());
      await api.apply(namespace("guarded", ENFORCED_LABEL));
      await registerWebhook(api, admission.webhook.url, pki.caCert);

      const configuration = taggingConfig("approved");
      const signed = renderWasmPlugin({
        filter,
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
          filter: filter.name,
          injectionId: "approved",
          configuration,
        }),
      });
      const tampered = structuredClone(signed);
      tampered.metadata.name = "tampered";
      (tampered.spec.pluginConfig as typeof configuration).response_header = "x-not-what-was-signed";

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

    // graft rollout with the Istio engine: a second pod of the app on the canary track, a real Prometheus
    // scraping both sidecars with their pod labels, live traffic spread over both, and the WasmPlugin pair
    // written through the API server.
    // Skipped (with the reason) where Debian's prometheus is not installed: scripts/setup-mesh-tools installs it.
    describe(
      "graft rollout on the Istio engine (WasmPlugin pair, judged from Prometheus)",
      { skip: prometheusMissing() },
      () => {
        const PAIR = "tagger";
        /**
         * The stat prefix of the outbound HTTP connection manager istiod makes for the app's port, as
         * Prometheus labels it (in the admin API istiod's prefix ends in ";": `http.<prefix>;.downstream_rq_…`).
         */
        const PLAN_LISTENER = `outbound_${APP_LISTENER}`;
        let canaryEnvoy: ManagedProcess;
        let prometheus: TestPrometheus;
        let load: Load;
        let approver: Approver;
        let policyFile: string;
        let auditLog: string;
        const identity = (name: string) => ({
          apiVersion: "extensions.istio.io/v1alpha1",
          kind: "WasmPlugin",
          metadata: { name, namespace: APP.namespace },
        });
        const plugin = (name: string) =>
          api.get<KubeObject & { spec: Record<string, unknown> }>(identity(name));
        const plan = () => ({
          canary: "track=canary",
          baseline: "track=stable",
          listener: PLAN_LISTENER,
          interval: "1s",
          minDuration: "4s",
          maxDuration: "60s",
          minRequests: 300,
          burstWindow: "1s",
          signals: [
            { name: "filter_rejections", maxRatio: 1.5, floorRate: 0.005 },
            { name: "5xx", maxRatio: 1.5, floorRate: 0.005 },
          ],
          metrics: { source: "prometheus", url: prometheus.url },
          engine: {
            kind: "istio",
            namespace: APP.namespace,
            plugin: PAIR,
            selector: { ...APP.labels },
            phase: "STATS",
          },
        });
        /** A signed release of the suite's filter: tags responses with `injectionId`, refuses `blocked` prefixes. */
        const release = (name: string, injectionId: string, blocked: string[]) => {
          const configuration = { ...taggingConfig(injectionId), blocked_prefixes: blocked };
          return graftRollout({
            workDir,
            name,
            plan: plan(),
            filterDir: filter.dir,
            module: modulePath,
            url: `file://${modulePath}`,
            configuration,
            envelopeJson: signedEnvelope(approver, {
              module,
              filter: filter.name,
              injectionId,
              configuration,
            }),
            policyFile,
            kubeconfig,
            auditLog,
          });
        };
        /** The injection id in the ECDS configuration an Envoy runs for `pluginName`, or undefined. */
        const injectionIn = async (adminPort: number, pluginName: string) => {
          const wasm = (await ecdsFilters(adminPort)).find((ecds) => isEcdsOf(ecds.name, pluginName));
          const value = (wasm?.typedConfig as { config?: { configuration?: { value?: string } } } | undefined)
            ?.config?.configuration?.value;
          return value === undefined
            ? undefined
            : (JSON.parse(value) as { injection_id?: string }).injection_id;
        };
        const auditRecords = () =>
          readFileSync(auditLog, "utf8")
            .trim()
            .split("\n")
            .map(
              (line) =>
                JSON.parse(line) as {
                  action: string;
                  outcome: string;
                  targets: string[];
                  details: Record<string, unknown>;
                },
            );

        before(async () => {
          approver = newApprover("mesh-e2e-release");
          policyFile = writePolicyFile(path.join(workDir, "rollout-policy.yaml"), [approver]);
          auditLog = path.join(workDir, "rollout-audit.log");
          canaryEnvoy = await startSidecar(processes, tools.envoy, workDir, CANARY_POD, [filter]);
          timeline.mark("canary pod's Envoy has the app listener");
          // Prometheus with the pods' labels on their series, as kubernetes_sd + labelmap would give.
          prometheus = await TestPrometheus.start(
            [STABLE_POD, CANARY_POD].map((pod) => ({
              targets: [`127.0.0.1:${pod.adminPort}`],
              labels: { ...pod.labels, pod: pod.pod },
            })),
          );
          cleanups.push(() => prometheus.stop());
          load = startLoad(6);
          await waitFor(
            "both pods' Envoys serving the app (seen by Prometheus)",
            async () => {
              const served = await Promise.all(
                [STABLE_POD, CANARY_POD].map(async (pod) => {
                  const stats = (await adminJson(
                    `/stats?format=json&filter=${encodeURIComponent("downstream_rq_completed$")}`,
                    pod.adminPort,
                  )) as { stats: { name: string; value?: number }[] };
                  return stats.stats.filter(
                    (stat) => stat.name.startsWith("http.") && !stat.name.startsWith("http.admin."),
                  );
                }),
              );
              const ready = served.every((stats) =>
                stats.some(
                  (stat) =>
                    stat.name === `http.${PLAN_LISTENER};.downstream_rq_completed` && (stat.value ?? 0) > 50,
                ),
              );
              // Thrown, the state is what waitFor reports if it never gets there.
              if (!ready) throw new Error(`requests per pod so far: ${JSON.stringify(served)}`);
              return true;
            },
            { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 200, process: canaryEnvoy },
          );
          timeline.mark("traffic spread over both pods");
          await waitFor(
            "Prometheus has scraped both pods' Envoys",
            async () => {
              const seen = await Promise.all(
                [STABLE_POD, CANARY_POD].map((pod) => envoysInPrometheus(prometheus.url, pod.labels)),
              );
              return seen.every((envoys) => envoys.length === 1) ? true : undefined;
            },
            { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 250 },
          );
          timeline.mark("Prometheus sees both pods");
        });

        after(async () => {
          const sent = await load?.stop();
          if (sent) console.log(`mesh-e2e rollout traffic: ${JSON.stringify(sent)}`);
          await canaryEnvoy?.stop();
        });

        it("promotes a good release: the canary plugin first, then the stable plugin", async () => {
          const start = performance.now();
          const run = await release("good", "good-1", ["/never"]);
          timeline.duration("graft rollout (good release) -> PROMOTE", performance.now() - start);
          assert.equal(run.exitCode, 0, `${run.answer.decision}: ${run.answer.reason}\n${run.stderr}`);
          assert.equal(run.answer.decision, "PROMOTE");
          assert.equal(run.answer.canaryState, "promoted");
          assert.deepEqual(
            run.answer.canary,
            [CANARY_POD.pod],
            "the canary arm is the canary pod, found in Prometheus",
          );
          assert.deepEqual(run.answer.baseline, [STABLE_POD.pod]);
          // Through the API server: the pair, each selecting its own track, both with the signed release.
          for (const [name, track] of [
            [`${PAIR}-canary`, "canary"],
            [`${PAIR}-stable`, "stable"],
          ] as const) {
            const stored = await plugin(name);
            assert.ok(stored, `WasmPlugin ${name} exists`);
            assert.deepEqual((stored.spec.selector as { matchLabels: unknown }).matchLabels, {
              ...APP.labels,
              track,
            });
            assert.equal((stored.spec.pluginConfig as { injection_id: string }).injection_id, "good-1");
            assert.equal(stored.spec.sha256, sha256Hex(module), "pinned to the signed module");
            assert.ok(
              (stored.metadata as { annotations?: Record<string, string> }).annotations?.[
                "graft.dev/envelope"
              ],
            );
          }
          // In the proxies: each pod's Envoy runs its own track's plugin, with the new release.
          await waitFor(
            "both Envoys running good-1",
            async () =>
              (await injectionIn(CANARY_POD.adminPort, `${PAIR}-canary`)) === "good-1" &&
              (await injectionIn(STABLE_POD.adminPort, `${PAIR}-stable`)) === "good-1"
                ? true
                : undefined,
            { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 100 },
          );
          assert.equal(
            await injectionIn(STABLE_POD.adminPort, `${PAIR}-canary`),
            undefined,
            "the stable pod never runs the canary plugin",
          );
          const records = auditRecords();
          assert.equal(records.find((r) => r.action === "rollout-start")?.details.through, "istio");
          assert.deepEqual(
            records.filter((r) => r.action === "inject" && r.outcome === "ok").map((r) => r.targets[0]),
            [`WasmPlugin ${APP.namespace}/${PAIR}-canary`, `WasmPlugin ${APP.namespace}/${PAIR}-stable`],
            "the canary first, then the stable plugin, each audited",
          );
        });

        it("rolls back a faulty release: the canary plugin gets its release back, the stable one is untouched", async () => {
          const stableBefore = await plugin(`${PAIR}-stable`);
          const start = performance.now();
          const run = await release("faulty", "faulty-2", ["/"]);
          timeline.duration("graft rollout (faulty release) -> ROLLBACK", performance.now() - start);
          assert.equal(run.exitCode, 3, `${run.answer.decision}: ${run.answer.reason}\n${run.stderr}`);
          assert.equal(run.answer.decision, "ROLLBACK");
          assert.equal(run.answer.canaryState, "rolled back");
          assert.match(run.answer.reason, /^filter_rejections: canary [\d.]+% \(\d+\/\d+\) vs baseline 0% /);
          const canary = await plugin(`${PAIR}-canary`);
          assert.equal(
            (canary!.spec.pluginConfig as { injection_id: string }).injection_id,
            "good-1",
            "the canary plugin is back on the release it had",
          );
          const stableAfter = await plugin(`${PAIR}-stable`);
          assert.equal(
            stableAfter!.metadata.resourceVersion,
            stableBefore!.metadata.resourceVersion,
            "the stable plugin was never written",
          );
          await waitFor(
            "the canary Envoy back on good-1",
            async () =>
              (await injectionIn(CANARY_POD.adminPort, `${PAIR}-canary`)) === "good-1" ? true : undefined,
            { timeoutMs: PROPAGATION_TIMEOUT_MS, intervalMs: 100 },
          );
          const rollbacks = auditRecords().filter((r) => r.action === "rollback" && r.outcome === "ok");
          assert.deepEqual(
            rollbacks.map((r) => r.targets[0]),
            [`WasmPlugin ${APP.namespace}/${PAIR}-canary`],
          );
        });

        it("refuses, writing nothing, when the stable plugin would also select the canary's pods", async () => {
          const stable = (await plugin(`${PAIR}-stable`))!;
          const canaryBefore = (await plugin(`${PAIR}-canary`))!;
          const widened = await api.request(
            "PATCH",
            objectPath(stable),
            // A merge patch merges maps: null removes the track label, widening it to every pod of the app.
            { spec: { selector: { matchLabels: { track: null } } } },
            "application/merge-patch+json",
          );
          assert.equal(widened.status, 200, statusMessage(widened));
          try {
            const run = await release("overlap", "good-3", ["/never"]);
            assert.equal(run.exitCode, 1, run.stderr);
            assert.match(
              run.stderr,
              new RegExp(
                `WasmPlugin ${APP.namespace}/${PAIR}-stable selects app=app, not the baseline's workloads \\(app=app,track=stable\\): the arms would overlap`,
              ),
            );
            const canaryAfter = (await plugin(`${PAIR}-canary`))!;
            assert.equal(
              canaryAfter.metadata.resourceVersion,
              canaryBefore.metadata.resourceVersion,
              "the canary plugin was not written",
            );
          } finally {
            const restored = await api.request(
              "PATCH",
              objectPath(stable),
              { spec: { selector: { matchLabels: { ...APP.labels, track: "stable" } } } },
              "application/merge-patch+json",
            );
            assert.equal(restored.status, 200, statusMessage(restored));
          }
        });
      },
    );

    // Istio's own path for oci:// modules: pilot-agent beside Envoy pulls the image and hands Envoy a file.
    it("runs an oci:// WasmPlugin through pilot-agent, pulled from a registry", async (t) => {
      const skip =
        !tools.pilotAgent || !tools.envoyBootstrapTemplate
          ? "pilot-agent or Istio's bootstrap template is not built (scripts/mesh-tools)"
          : registrySkipReason();
      if (skip) return t.skip(skip);
      const registry = await startRegistry();
      cleanups.push(() => registry.stop());
      const reference = parseImageReference(`${registry.host}/graft/${filter.name}:e2e`);
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

      const plugin = taggingPlugin("via-oci", {
        name: `${PLUGIN}-oci`,
        url: `oci://${registry.host}/graft/${filter.name}:e2e`,
        sha256: pushed.manifestDigest.slice("sha256:".length),
      });
      const created = await api.create(plugin as unknown as KubeObject);
      assert.equal(created.status, 201, statusMessage(created));
      const ms = await untilHeader("via-oci", "x-graft from the oci:// WasmPlugin in live traffic");
      timeline.duration("oci:// WasmPlugin create -> first rewritten response (agent pull included)", ms);
      const wasm = (await ecdsFilters()).find((ecds) => isEcdsOf(ecds.name, `${PLUGIN}-oci`));
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
