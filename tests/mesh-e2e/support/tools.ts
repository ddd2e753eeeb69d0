// SPDX-License-Identifier: Apache-2.0
/**
 * The binaries the suite runs: etcd, kube-apiserver, pilot-discovery (and pilot-agent), built and cached
 * outside the checkout by scripts/mesh-tools; Envoy 1.40 from scripts/install-envoy. A missing piece is a
 * skip that says which command provides it. (The filter the suite deploys is the one `graft new` writes,
 * built by the suite itself: tests/support/sample-filter.ts.)
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { projectEnvoyPath } from "../../../src/envoy/binary.ts";
import { projectRoot } from "../../../src/util/paths.ts";

export const MESH_TOOLS_SCRIPT = path.join(projectRoot, "scripts", "mesh-tools");

export interface MeshTools {
  etcd: string;
  kubeApiserver: string;
  pilotDiscovery: string;
  /** Present when built: the oci:// check needs it beside Envoy. */
  pilotAgent?: string;
  /** pilot-agent's Envoy bootstrap template (from Istio's source, as in its proxy image). */
  envoyBootstrapTemplate?: string;
  /** Istio's CRDs (crd-all.gen.yaml) at istiod's snapshot. */
  istioCrds: string;
  envoy: string;
}

/** The cached paths scripts/mesh-tools reports (`--paths` builds nothing). */
function cachedPaths(): Map<string, string> {
  const run = spawnSync(MESH_TOOLS_SCRIPT, ["--paths"], { encoding: "utf8", timeout: 30_000 });
  const paths = new Map<string, string>();
  for (const line of (run.stdout ?? "").split("\n")) {
    const [name, file] = line.split("=", 2);
    if (name && file) paths.set(name, file);
  }
  return paths;
}

/** Every tool, or the reason the suite cannot run here. */
export function resolveMeshTools(): MeshTools | { skip: string } {
  const paths = cachedPaths();
  const missing = ["etcd", "kube-apiserver", "pilot-discovery", "istio-crds"].filter(
    (name) => !paths.has(name),
  );
  if (missing.length > 0)
    return {
      skip: `${missing.join(", ")} not built yet: run \`npm run test:mesh\` (or scripts/mesh-tools) once; it builds them into ~/.cache/graft/mesh`,
    };
  const envoy = process.env.ENVOY_BIN ?? projectEnvoyPath;
  if (!existsSync(envoy)) return { skip: `Envoy is not installed at ${envoy}: run scripts/install-envoy` };
  return {
    etcd: paths.get("etcd")!,
    kubeApiserver: paths.get("kube-apiserver")!,
    pilotDiscovery: paths.get("pilot-discovery")!,
    ...(paths.has("pilot-agent") ? { pilotAgent: paths.get("pilot-agent")! } : {}),
    ...(paths.has("envoy-bootstrap-template")
      ? { envoyBootstrapTemplate: paths.get("envoy-bootstrap-template")! }
      : {}),
    istioCrds: paths.get("istio-crds")!,
    envoy,
  };
}
