// Filter metric labels work only when the SDK's tag names (assembly/metrics.ts) and the stats_tags
// every graft Envoy gets (src/metrics/tags.ts) name the same tags.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { renderBootstrap } from "../../src/envoy/bootstrap.ts";
import { listFilters } from "../../src/filters/catalog.ts";
import { graftTagNames, taggedStatName } from "../../src/metrics/tags.ts";
import { projectRoot } from "../../src/util/paths.ts";

describe("metric tags", () => {
  it("gives every tag the AssemblyScript SDK names, and every tag a filter contract declares, a stats_tags entry", () => {
    const source = readFileSync(path.join(projectRoot, "assembly", "metrics.ts"), "utf8");
    const sdkTags = [...source.matchAll(/export const TAG_[A-Z]+ = "([a-z_]+)";/g)].map((m) => m[1]!);
    assert.ok(sdkTags.includes("filter") && sdkTags.includes("injection"));
    const names = graftTagNames();
    for (const tag of sdkTags)
      assert.ok(names.includes(tag), `${tag} (assembly/metrics.ts) has no stats_tags entry`);
    for (const filter of listFilters()) {
      for (const metric of filter.contract.metrics) {
        for (const tag of metric.tags ?? [])
          assert.ok(names.includes(tag), `${filter.name}: ${metric.name}'s tag ${tag}`);
      }
    }
    assert.deepEqual(names.slice(0, 2), ["filter", "injection"]);
  });

  it("renders one stats_tags entry per tag that takes the tag out of the name", () => {
    const bootstrap = renderBootstrap({ listeners: [], upstream: { host: "127.0.0.1", port: 1 } }) as {
      stats_config: { stats_tags: { tag_name: string; regex: string }[] };
    };
    const name = taggedStatName("graft.rule_applied_total", {
      filter: "header-rewrite",
      injection: "inj-1",
      rule: "tag-api",
    });
    const found: Record<string, string> = {};
    let rest = name;
    for (const { tag_name, regex } of bootstrap.stats_config.stats_tags) {
      const match = new RegExp(regex).exec(name);
      if (match) {
        found[tag_name] = match[2]!;
        rest = rest.replace(match[1]!, "");
      }
    }
    assert.deepEqual(found, { filter: "header-rewrite", injection: "inj-1", rule: "tag-api" });
    assert.equal(rest, "wasmcustom.graft.rule_applied_total");
  });
});
