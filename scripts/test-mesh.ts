// `npm run test:mesh`: builds or reuses the real mesh's binaries (scripts/mesh-tools: etcd, kube-apiserver,
// pilot-discovery, pilot-agent, cached outside the checkout), then runs the end-to-end suite in
// tests/mesh-e2e/. Without a Go toolchain the binaries cannot be built here: that is reported as a skip,
// every other build failure fails the run.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { projectRoot } from "../src/util/paths.ts";

const NO_GO_TOOLCHAIN = 4; // scripts/mesh-tools' exit status when `go` is missing

const started = performance.now();
const tools = spawnSync(path.join(projectRoot, "scripts", "mesh-tools"), {
  stdio: "inherit",
  cwd: projectRoot,
});
if (tools.status === NO_GO_TOOLCHAIN) {
  console.log(
    "test:mesh skipped: no Go toolchain here to build etcd, kube-apiserver and istiod (install Go >= 1.26)",
  );
  process.exit(0);
}
if (tools.status !== 0) {
  console.error(`test:mesh: scripts/mesh-tools failed (exit ${tools.status ?? tools.signal})`);
  process.exit(1);
}
const toolsSeconds = (performance.now() - started) / 1000;

const suite = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    path.join(projectRoot, "tests", "mesh-e2e", "mesh.test.ts"),
  ],
  { stdio: "inherit", cwd: projectRoot },
);
const suiteSeconds = (performance.now() - started) / 1000 - toolsSeconds;
console.log(`test:mesh: tools ${toolsSeconds.toFixed(1)} s, suite ${suiteSeconds.toFixed(1)} s`);
process.exit(suite.status ?? 1);
