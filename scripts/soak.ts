// npm run soak [-- --requests N --concurrency C]: 500,000 requests (HTTP/1.1 and HTTP/2) through one
// real Envoy carrying every filter of the catalog; fails on RSS growth of 5 MiB or more after warm-up,
// any VM failure, or volume counters that disagree with the requests sent. See tools/soak/soak.ts.
import { parseArgs } from "node:util";
import { formatSoak, runSoak } from "../tools/soak/soak.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "500000" },
    concurrency: { type: "string", default: "2" },
    "max-seconds": { type: "string", default: "900" },
  },
});
const result = await runSoak({
  requests: Number(values.requests),
  concurrency: Number(values.concurrency),
  maxSeconds: Number(values["max-seconds"]),
  log: (line) => console.log(line),
});
console.log(formatSoak(result));
process.exit(result.failures.length === 0 ? 0 : 1);
