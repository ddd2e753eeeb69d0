// `npm run demo [-- --runtime container]`: graft's main job against real Envoy. Builds the filters,
// then canaries a good header-rewrite release (→ PROMOTE) and a faulty build (→ automatic ROLLBACK)
// between a baseline and a canary Envoy under live traffic, each Envoy with its graft agent (a
// `graft agent` process pinning a signed trust policy), asked with a control-plane key, and prints why.
import { buildAll, formatBuildReport } from "../src/compile/compile.ts";
import { runCanaryDemo } from "../tools/demo/canary-demo.ts";
import { parseRuntime } from "../src/envoy/runtime.ts";
import { ensureEnvoyImage } from "../src/envoy/container.ts";

const flag = process.argv.indexOf("--runtime");
const runtime = parseRuntime(flag >= 0 ? process.argv[flag + 1] : process.env.GRAFT_RUNTIME);
const started = Date.now();
try {
  console.log(formatBuildReport(await buildAll(["header-rewrite"])));
  if (runtime === "container") await ensureEnvoyImage();
  const { good, faulty } = await runCanaryDemo((line) => console.log(line), { runtime });
  console.log(
    `\ndemo done in ${Math.round((Date.now() - started) / 1000)} s, through graft agents: good release ${good.decision}, faulty build ${faulty.decision}`,
  );
  if (good.decision !== "PROMOTE" || faulty.decision !== "ROLLBACK") process.exitCode = 1;
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
