// `graft status` through agents: each agent's signed /v1/status, the Envoy-reported version beside
// it, and the agent's own audit entries (one real Envoy with an in-process agent, releases of the
// sample filter).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fleetStatus, statusLines } from "../../src/cli/fleet-status.ts";
import { injectThroughAgents } from "../../src/inject/agent-fleet.ts";
import {
  alice,
  release,
  sample,
  SLOT,
  startAgentFleet,
  type AgentFleet,
} from "../agent/support/agent-fleet.ts";

describe("graft status through agents", () => {
  let fleet: AgentFleet | undefined;
  before(async () => {
    fleet = await startAgentFleet({ count: 1 });
  });
  after(async () => fleet?.stop());

  it("shows the agent's active injection, Envoy's version beside it and the agent's audit", async () => {
    const host = fleet!.hosts[0]!;
    const signed = release("sf-status", [alice]);
    const report = await injectThroughAgents(
      { targets: [host.target], slot: SLOT, ...signed },
      { caller: fleet!.caller },
    );
    assert.deepEqual(report.failures, []);
    const [view] = await fleetStatus([host.target], { auditLog: "", caller: fleet!.caller, recent: 3 });
    assert.equal(view!.mode, "agent");
    assert.equal(view!.url, host.target.agent!.url);
    const slot = view!.slots[0]!;
    assert.equal(slot.active?.injectionId, "sf-status");
    assert.equal(slot.active?.filter, sample.name);
    assert.equal(slot.active?.version, "1.0.0");
    assert.match(slot.written ?? "", /sf-status/);
    if (host.target.adminUrl) assert.equal(slot.agrees, true, JSON.stringify(slot));
    assert.ok(view!.recentAudit.length > 0 && view!.recentAudit.length <= 3);
    assert.match(
      statusLines([view!]).join("\n"),
      new RegExp(`graft-slot-0: ${sample.name} 1\\.0\\.0, injection sf-status`),
    );
  });
});
