// An author's filter lives in a folder of its own, outside graft's filters/ (here the sample filter
// `graft new` writes, in a temporary folder). File mode can inject it given the folder; through
// agents, each agent decides which filters it runs from its own configuration: it runs a signed
// release of that filter when its `filters:` lists the folder, and otherwise refuses it before the
// proxy changes, saying which filters it knows and where to add the folder.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { injectFleet, type FleetReport } from "../../src/inject/fleet.ts";
import { policyOf } from "../sign/helpers.ts";
import {
  alice,
  auditRecords,
  mallory,
  release,
  sample,
  served,
  SLOT,
  startAgentFleet,
  TAG_CONFIG,
  type AgentFleet,
  type Release,
} from "./support/agent-fleet.ts";

type Report = FleetReport & { failures: { code?: string; error: string }[] };

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function inject(f: AgentFleet, r: Release): Promise<Report> {
  return injectFleet({
    targets: f.hosts.map((h) => h.target),
    slot: SLOT,
    module: r.module,
    envelope: r.envelope,
    configuration: r.configuration,
    // Agents verify against their own policy; this one is the file mode's, and is not used.
    policy: policyOf([{ approver: mallory }]),
    auditLog: "/dev/null",
    actor: "ops",
    caller: f.caller,
  }) as Promise<Report>;
}

async function status(url: string, path: string): Promise<number> {
  const response = await fetch(`${url}${path}`);
  await response.arrayBuffer();
  return response.status;
}

describe("agents and a filter from an author's own folder", () => {
  let listing: AgentFleet;
  let notListing: AgentFleet;
  before(async () => {
    listing = await startAgentFleet({ filters: [sample.dir] });
    notListing = await startAgentFleet({ filters: [] });
  });
  after(async () => {
    await listing?.stop();
    await notListing?.stop();
  });

  const ownRelease = () =>
    release("own-1", [alice], { configuration: { ...TAG_CONFIG, blocked_prefixes: ["/private"] } });

  it("an agent whose configuration lists the folder runs a signed release of it", async () => {
    const host = listing.hosts[0]!;
    assert.deepEqual(
      host.config.filters.map((filter) => filter.dir),
      [sample.dir],
    );
    const report = await inject(listing, ownRelease());
    assert.deepEqual(report.failures, []);
    // Envoy serves the filter as configured: tagged responses, 403 under the blocked prefix.
    assert.equal(await served(host.url), "own-1");
    assert.equal(await status(host.url, "/private/x"), 403);
    const injected = auditRecords(host.config.auditLog).filter((r) => r.action === "inject");
    assert.deepEqual(
      injected.map((r) => [r.outcome, r.details?.filter]),
      [
        ["intent", sample.name],
        ["ok", sample.name],
      ],
    );
  });

  it("an agent whose configuration does not list it refuses the release, says how to fix it, and changes nothing", async () => {
    const host = notListing.hosts[0]!;
    const report = await inject(notListing, ownRelease());
    assert.deepEqual(
      report.failures.map((failure) => failure.code),
      ["UNKNOWN_FILTER"],
    );
    assert.match(
      report.failures[0]!.error,
      new RegExp(
        `has no filter named "${sample.name}": its configuration \\(${literal(host.config.source)}\\) lists no filter folders, and graft's filters/ has .*; fix: add the filter's folder to filters: in ${literal(host.config.source)}`,
      ),
    );
    assert.equal(await served(host.url), null);
    assert.equal(await status(host.url, "/private/x"), 200);
    const injected = auditRecords(host.config.auditLog).filter((r) => r.action === "inject");
    assert.deepEqual(
      injected.map((r) => r.outcome),
      ["refused"],
    );
    assert.match(injected[0]!.reason ?? "", /^UNKNOWN_FILTER: /);
  });
});
