// rate-limiter's configurations for the request fuzzer (tools/fuzz/requests.ts, `npm run fuzz`) and
// for the emulator/Envoy differential (tests/hardening/emulator-differential.test.ts).
import type { Rng } from "../../tools/fuzz/generators.ts";

/** README.md, "Memory", with Envoy's defaults and a small configuration. */
export const memoryBoundBytes = 8 << 20;

export function configuration(rng: Rng): unknown {
  return {
    injection_id: "fuzz",
    rules: [
      {
        name: "r",
        key: rng.pick([{ source: "global" }, { source: "global" }]),
        tokens_per_fill: 1 + rng.int(100),
        fill_interval_ms: 1 + rng.int(2000),
        max_tokens: 1 + rng.int(200),
      },
    ],
  };
}

/**
 * Buckets refill at most one token an hour, so that which request is refused does not hang on
 * milliseconds between the two backends' clocks.
 */
export function differentialConfiguration(rng: Rng): unknown {
  return {
    injection_id: "diff",
    mode: rng.chance(0.3) ? "monitor" : "enforce",
    quota_headers: rng.chance(0.5),
    rules: Array.from({ length: 1 + rng.int(3) }, (_, i) => ({
      name: `r${i}`,
      ...(rng.chance(0.3) ? { match: { methods: ["GET", "POST"] } } : {}),
      key: rng.pick([
        { source: "global" },
        { source: "header", name: "x-user" },
        { source: "path", segments: 1 },
      ]),
      tokens_per_fill: 1,
      fill_interval_ms: 3_600_000,
      max_tokens: 1 + rng.int(30),
    })),
  };
}
