// header-rewrite's configurations for the request fuzzer (tools/fuzz/requests.ts, `npm run fuzz`):
// rules that match and quote the headers fuzzed requests carry, now and then a hundred of them.
import { REQUEST_HEADER_NAMES, type Rng } from "../../tools/fuzz/generators.ts";

/** README.md, "Memory", with Envoy's defaults and a small configuration. */
export const memoryBoundBytes = 8 << 20;

export function configuration(rng: Rng): unknown {
  const rules = 1 + rng.int(rng.chance(0.2) ? 100 : 8);
  return {
    injection_id: "fuzz",
    rules: Array.from({ length: rules }, (_, i) => ({
      name: `r${i}`,
      ...(rng.chance(0.5)
        ? { match: { headers: [{ name: rng.pick(REQUEST_HEADER_NAMES), present: rng.chance(0.5) }] } }
        : {}),
      [rng.chance(0.5) ? "request" : "response"]: Array.from({ length: 1 + rng.int(4) }, () =>
        rng.chance(0.2)
          ? { op: "remove", name: rng.pick(REQUEST_HEADER_NAMES) }
          : {
              op: rng.pick(["set", "append"]),
              name: `x-out-${rng.int(5)}`,
              value:
                Array.from(
                  { length: rng.int(4) },
                  () => `\${request.header.${rng.pick(REQUEST_HEADER_NAMES)}}`,
                ).join("-") + "v",
            },
      ),
    })),
  };
}
