// Filter metric labels work only when the SDK's tag names (assembly/metrics.ts) and the stats_tags
// every graft Envoy gets (src/metrics/tags.ts) name the same tags.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { renderBootstrap } from "../../src/envoy/bootstrap.ts";
import { listFilters, type FilterInfo } from "../../src/filters/catalog.ts";
import { graftStatsTags, graftTagNames, taggedStatName } from "../../src/metrics/tags.ts";
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

  it("renders one stats_tags entry per tag that takes the tag out of the name, for every metric of every filter", () => {
    const bootstrap = renderBootstrap({ listeners: [], upstream: { host: "127.0.0.1", port: 1 } }) as {
      stats_config: { stats_tags: { tag_name: string; regex: string }[] };
    };
    const metrics = listFilters().flatMap((filter) =>
      filter.contract.metrics.map((metric) => ({ filter: filter.name, metric })),
    );
    assert.ok(metrics.length > 0, "no filter declares a metric");
    for (const { filter, metric } of metrics) {
      const tags: Record<string, string> = { filter, injection: "inj-1" };
      for (const tag of metric.tags ?? []) tags[tag] = `${tag}-value`;
      const name = taggedStatName(`graft.${metric.name}`, tags);
      const found: Record<string, string> = {};
      let rest = name;
      for (const { tag_name, regex } of bootstrap.stats_config.stats_tags) {
        const match = new RegExp(regex).exec(name);
        if (match) {
          found[tag_name] = match[2]!;
          rest = rest.replace(match[1]!, "");
        }
      }
      assert.deepEqual(found, tags, name);
      assert.equal(rest, `wasmcustom.graft.${metric.name}`, name);
    }
  });

  it("takes a tag a contract declares out of the name, whichever filter declares it", () => {
    const declaring = {
      name: "tagged",
      contract: {
        name: "tagged",
        metrics: [{ name: "hits_total", type: "counter", role: "volume", tags: ["rule"] }],
      },
    } as unknown as FilterInfo;
    const name = taggedStatName("graft.hits_total", {
      filter: "tagged",
      injection: "inj-1",
      rule: "tag-api",
    });
    const found: Record<string, string> = {};
    let rest = name;
    for (const { tag_name, regex } of graftStatsTags([declaring])) {
      const match = new RegExp(regex).exec(name);
      if (match) {
        found[tag_name] = match[2]!;
        rest = rest.replace(match[1]!, "");
      }
    }
    assert.deepEqual(found, { filter: "tagged", injection: "inj-1", rule: "tag-api" });
    assert.equal(rest, "wasmcustom.graft.hits_total");
  });
});
