// The peer benchmark's arithmetic and output (tools/bench/peers): paired statistics, the goals read
// off a result set (a group's own, then memory and module size), the Markdown tables and the SVG
// chart. The group is made up: the harness knows no filter.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addedCpu,
  evaluateGoals,
  f1,
  f2,
  renderMarkdown,
  renderSvg,
  throughputRatio,
  type Goal,
  type GroupResult,
  type PeerResults,
} from "../../tools/bench/peers/report.ts";
import { differenceRange, median, pairedDifference, pairedRatio } from "../../tools/bench/peers/stats.ts";

function variant(id: string, kind: string, rps: number[], cpuUs: number[]): GroupResult["variants"][number] {
  return {
    id,
    label: id,
    kind,
    rps,
    cpuUs,
    fixedCpuUs: cpuUs,
    p50: [100],
    p90: [200],
    p99: [400],
    non2xx: 0,
    errors: 0,
    dropped: 0,
  };
}

function results(): PeerResults {
  return {
    date: "2026-12-05T18:00:00.000Z",
    machine: { cpu: "test", cpus: 2, memoryGiB: 4, kernel: "6", node: "v22" },
    envoy: "1.40.0",
    generator: "wrk",
    settings: { rounds: 3 },
    loadAverage: { start: [1, 1, 1], end: [1, 1, 1] },
    notes: [],
    modules: [
      { name: "alpha", bytes: 39 * 1024, release: true },
      { name: "C (peer)", bytes: 11 * 1024, release: false },
    ],
    sizeBreakdowns: [],
    hostCalls: {},
    groups: [
      {
        id: "made-up",
        title: "a made-up filter",
        route: "direct",
        bodyBytes: 0,
        fixedRate: 1000,
        variants: [
          variant("none", "none", [100, 200, 300], [20, 22, 24]),
          variant("lua", "lua", [60, 120, 180], [32, 34, 36]),
          variant("graft", "graft", [80, 160, 240], [26, 28, 30]),
          variant("c", "c", [85, 170, 255], [25, 27, 29]),
        ],
      },
    ],
    memory: {
      workers: 2,
      filters: ["alpha", "beta", "gamma"],
      noneRssBytes: 60e6,
      allRssBytes: 75e6,
      addedBytes: 15e6,
      activeVms: 9,
    },
    goals: [],
    durationSeconds: 60,
  };
}

/** The made-up group's goals, as a filter's peers module declares them. */
function madeUpGoals(data: PeerResults): Goal[] {
  const group = data.groups.find((g) => g.id === "made-up");
  if (!group) return [];
  const ratio = addedCpu(group, "graft") / addedCpu(group, "lua");
  return [
    {
      goal: "made-up CPU added per request vs Lua",
      target: "≤ 0.7×",
      measured: `${f2(ratio)}× (graft +${f1(addedCpu(group, "graft"))} µs)`,
      met: ratio <= 0.7,
    },
  ];
}

describe("peer benchmark statistics", () => {
  it("takes medians of finite values and pairs samples round by round", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
    assert.equal(median([1, NaN, 3]), 2);
    // Round-by-round ratios cancel a drift that moves both variants together.
    assert.equal(pairedRatio([50, 100, 150], [100, 200, 300]), 0.5);
    assert.equal(pairedDifference([30, 32, 40], [20, 22, 24]), 10);
    assert.deepEqual(differenceRange([30, 32, 40], [20, 22, 24]), [10, 16]);
  });

  it("reads added CPU and throughput against no filter from the group", () => {
    const group = results().groups[0]!;
    assert.equal(addedCpu(group, "graft"), 6);
    assert.equal(addedCpu(group, "lua"), 12);
    assert.equal(throughputRatio(group, "graft"), 0.8);
    assert.ok(Number.isNaN(addedCpu(group, "missing")));
  });
});

describe("peer benchmark goals and report", () => {
  it("checks each group's own goals first, then memory and module size", () => {
    const goals = evaluateGoals(results(), [madeUpGoals]);
    assert.deepEqual(
      goals.map((goal) => goal.goal),
      [
        "made-up CPU added per request vs Lua",
        "Envoy RSS, all three filters at 2 workers vs none",
        "every release module",
      ],
    );
    assert.equal(goals[0]!.met, true); // 6 / 12 = 0.5 ≤ 0.7
    assert.match(goals[0]!.measured, /0\.50× \(graft \+6\.0 µs\)/);
    assert.equal(goals[1]!.met, true);
    assert.equal(goals[2]!.met, true); // the peer's size does not count
    assert.equal(goals[2]!.measured, "alpha 39.0 KiB");
  });

  it("has no goals of a group that did not run", () => {
    const data = results();
    data.groups = [];
    data.memory = null;
    assert.deepEqual(
      evaluateGoals(data, [madeUpGoals]).map((goal) => goal.goal),
      ["every release module"],
    );
  });

  it("renders Markdown with a row per variant and graft against each peer", () => {
    const data = results();
    data.goals = evaluateGoals(data);
    const text = renderMarkdown(data);
    assert.match(text, /### Goals \(issue 17\)/);
    assert.match(text, /\| graft \| 160 \| 0\.80 \| 28\.0 \| \+6\.0 \(6\.0…6\.0\)/);
    assert.match(text, /\| graft \| 0\.50× CPU, 1\.33× req\/s \| 1\.20× CPU, 0\.94× req\/s \|/);
    assert.match(text, /Envoy RSS with no filter 60\.0 MB; with alpha, beta and gamma 75\.0 MB/);
  });

  it("breaks down the release modules a peers module asks for", () => {
    const data = results();
    data.sizeBreakdowns = [
      {
        module: "alpha",
        code: 2048,
        data: 1024,
        byOrigin: { sdk: 100, filter: 300 },
        largest: [{ name: "alpha/run", bytes: 300 }],
      },
    ];
    assert.match(
      renderMarkdown(data),
      /alpha's release module: code 2\.0 KiB, data 1\.0 KiB\. Code by origin: filter 300 B, sdk 100 B\. Largest functions: `alpha\/run` 300 B\./,
    );
  });

  it("draws an SVG chart with a bar pair per variant", () => {
    const svg = renderSvg(results());
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + 2 * 4);
    assert.doesNotMatch(svg, /NaN/);
  });
});
