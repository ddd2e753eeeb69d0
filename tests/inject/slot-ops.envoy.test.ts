// Injection into running Envoys through ECDS slot files: inject, repeat, roll back, refuse,
// disable and expire, checked by the traffic each Envoy serves afterwards.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { readHistory } from "../../src/inject/history.ts";
import { SlotUpdateRejected } from "../../src/inject/activate.ts";
import {
  disableSlot,
  expireSlot,
  injectSlot,
  rollbackSlot,
  type Injection,
} from "../../src/inject/slot-ops.ts";
import { withEnvoyLog } from "../support/envoy-fixture.ts";
import { RUNTIMES } from "../support/runtimes.ts";
import { sampleFilter } from "../support/sample-filter.ts";
import { startSlotFleet, type SlotFleet } from "../support/slot-fixture.ts";

const SLOT = "graft-slot-0";
// The sample filter (`graft new`'s) tags every response with its injection id in this header.
const filter = await sampleFilter();
const module = readFileSync(filter.releaseWasm);

function sampleInjection(injectionId: string, extra: Partial<Injection> = {}): Injection {
  return {
    filter: filter.name,
    rootId: filter.rootId,
    injectionId,
    module,
    configuration: { response_header: "x-graft-injection" },
    configSha256: `sha-of-${injectionId}`,
    ...extra,
  };
}

async function servedInjection(url: string): Promise<string | null> {
  const response = await fetch(`${url}/x`);
  await response.arrayBuffer();
  return response.headers.get("x-graft-injection");
}

for (const { runtime, skip } of RUNTIMES)
  describe(`slot operations on two running Envoys (${runtime})`, { skip }, () => {
    let fleet: SlotFleet | undefined;
    before(async () => {
      fleet = await startSlotFleet(2, { runtime });
    });
    after(async () => fleet?.stop());

    const everyEnvoy = async (expected: string | null) => {
      for (const { url, target } of fleet!.envoys)
        assert.equal(await servedInjection(url), expected, target.name);
    };

    it("serves nothing from an empty slot", async () => {
      await everyEnvoy(null);
    });

    it("injects into every Envoy without a restart, and a repeat changes nothing", async () => {
      const pids = fleet!.envoys.map((e) => e.envoy.pid);
      for (const { target } of fleet!.envoys) {
        const result = await injectSlot(target, SLOT, sampleInjection("inj-a"));
        assert.equal(result.outcome, "applied");
        assert.equal(result.injectionId, "inj-a");
      }
      await everyEnvoy("inj-a");
      const again = await injectSlot(fleet!.envoys[0]!.target, SLOT, sampleInjection("inj-a"));
      assert.equal(again.outcome, "unchanged");
      assert.deepEqual(
        fleet!.envoys.map((e) => e.envoy.pid),
        pids,
      );
    });

    it("rolls back to the previous injection, then to the empty slot", async () => {
      const { target, url } = fleet!.envoys[0]!;
      await injectSlot(target, SLOT, sampleInjection("inj-b"));
      assert.equal(await servedInjection(url), "inj-b");
      const back = await rollbackSlot(target, SLOT);
      assert.equal(back.outcome, "rolled-back");
      assert.equal(back.injectionId, "inj-a");
      assert.equal(await servedInjection(url), "inj-a");
      const empty = await rollbackSlot(target, SLOT);
      assert.equal(empty.outcome, "emptied");
      assert.equal(await servedInjection(url), null);
      await injectSlot(target, SLOT, sampleInjection("inj-a"));
    });

    it(
      "reports Envoy's reason for a refused configuration and keeps the previous filter serving",
      withEnvoyLog(
        () => fleet?.envoys[1],
        async () => {
          const { target, url } = fleet!.envoys[1]!;
          const historyBefore = await readHistory(target.ecdsDir, SLOT);
          const bad = sampleInjection("inj-bad", {
            configuration: { response_header: "x-graft-injection", blocked_prefixes: ["no-slash"] },
          });
          await assert.rejects(injectSlot(target, SLOT, bad), (error: unknown) => {
            assert.ok(error instanceof SlotUpdateRejected);
            assert.match(error.reason, /invalid configuration: \/blocked_prefixes\/0: must start with \//);
            return true;
          });
          assert.equal(await servedInjection(url), "inj-a");
          assert.deepEqual(
            (await readHistory(target.ecdsDir, SLOT)).stack.map((e) => e.injectionId),
            historyBefore.stack.map((e) => e.injectionId),
          );
          // The same refused update again is refused again (not silently ignored).
          await assert.rejects(injectSlot(target, SLOT, bad), SlotUpdateRejected);
        },
      ),
    );

    it("expires an injection past its TTL, returning to the one below", async () => {
      const { target, url } = fleet!.envoys[1]!;
      const soon = new Date(Date.now() + 60_000).toISOString();
      await injectSlot(target, SLOT, sampleInjection("inj-ttl", { expires: soon }));
      assert.equal(await servedInjection(url), "inj-ttl");
      assert.equal(await expireSlot(target, SLOT, new Date()), undefined, "not yet expired");
      const expired = await expireSlot(target, SLOT, new Date(Date.now() + 120_000));
      assert.equal(expired?.outcome, "expired");
      assert.equal(expired?.injectionId, "inj-a");
      assert.equal(await servedInjection(url), "inj-a");
    });

    it("disables every slot with the kill switch, leaving nothing to roll back to", async () => {
      for (const { target } of fleet!.envoys) {
        const result = await disableSlot(target, SLOT);
        assert.equal(result.outcome, "disabled");
        assert.ok(result.ms < 5_000);
      }
      await everyEnvoy(null);
      for (const { target } of fleet!.envoys)
        assert.deepEqual((await readHistory(target.ecdsDir, SLOT)).stack, []);
    });
  });
