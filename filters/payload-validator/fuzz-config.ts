// payload-validator's configurations for the request fuzzer (tools/fuzz/requests.ts, `npm run fuzz`):
// body limits, method rules, JSON depth and a schema, deny patterns the fuzzed requests can hit.
import type { Rng } from "../../tools/fuzz/generators.ts";

/** README.md, "Memory", with Envoy's defaults and a small configuration. */
export const memoryBoundBytes = 16 << 20;

export function configuration(rng: Rng): unknown {
  return {
    injection_id: "fuzz",
    mode: rng.chance(0.2) ? "monitor" : "enforce",
    ...(rng.chance(0.7) ? { max_body_bytes: 1 + rng.int(200_000) } : {}),
    ...(rng.chance(0.5) ? { body_required_methods: ["POST"], body_forbidden_methods: ["GET"] } : {}),
    ...(rng.chance(0.7)
      ? {
          json: {
            max_depth: 1 + rng.int(64),
            schema: { type: "object", properties: { a: { type: "integer" } } },
          },
        }
      : {}),
    deny: [
      { in: rng.pick(["body", "query", "path"]), contains: "${jndi:" },
      { in: "header", name: "x-user", contains: "evil" },
    ],
  };
}
