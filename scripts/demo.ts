// `npm run demo`: graft's main job against real Envoy. Builds the filters, starts the echo
// upstream and an Envoy with header-rewrite, sends requests and shows what the filter changed.
import { buildAll, formatBuildReport } from "../src/build/compile.ts";
import { runHeaderRewriteDemo } from "../src/demo/header-rewrite-demo.ts";

const modules = await buildAll(["header-rewrite"]);
console.log(formatBuildReport(modules));
await runHeaderRewriteDemo((line) => console.log(line));
