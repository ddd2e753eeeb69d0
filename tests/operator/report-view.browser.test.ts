// The rollout report and the live view in a real browser (Debian's headless Chromium, driven by
// playwright-core): the elements people read are there, the live view follows the looks, and
// screenshots land in .graft/artifacts/ (CI keeps them).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LiveView } from "../../src/rollout/live-view.ts";
import { writeRolloutReports } from "../../src/rollout/report.ts";
import { projectRoot } from "../../src/util/paths.ts";
import { ROLLED_OUT, syntheticLooks, syntheticResult } from "./synthetic-rollout.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(projectRoot, ".graft", "artifacts");

type Playwright = typeof import("playwright-core");
async function loadPlaywright(): Promise<Playwright | undefined> {
  try {
    return await import("playwright-core");
  } catch {
    return undefined;
  }
}

const playwright = await loadPlaywright();
const skip = !playwright
  ? "playwright-core is not installed (npm install --no-save playwright-core)"
  : !existsSync(CHROMIUM)
    ? `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_BIN)`
    : false;

// In CI (.ci/run installs both) a missing browser is a failure, not a skip.
if (skip && process.env.CI) throw new Error(`the browser test cannot run in CI: ${skip}`);

describe("the rollout report and live view in Chromium", { skip }, () => {
  let browser: import("playwright-core").Browser;
  let dir = "";
  before(async () => {
    browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    dir = await mkdtemp(path.join(tmpdir(), "graft-report-"));
    await mkdir(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ["ROLLBACK", "PROMOTE"] as const) {
    it(`shows a ${kind} in plain words first, then what, where, actions, both arms and evidence`, async () => {
      const reports = await writeRolloutReports(syntheticResult(kind), path.join(dir, kind));
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`file://${reports.html}`);
      const plain = await page.locator("#plain").innerText();
      assert.match(
        plain,
        new RegExp(`^${kind === "PROMOTE" ? "Promoted" : "Rolled back"}: ${ROLLED_OUT.filter} 1\\.2\\.0`),
      );
      // The verdict comes before any statistics.
      const order = await page.evaluate(() =>
        ["verdict", "rolled-out", "actions", "arms", "evidence", "statistics"].map(
          (id) => document.getElementById(id)!.getBoundingClientRect().top,
        ),
      );
      assert.deepEqual(
        [...order].sort((a, b) => a - b),
        order,
      );
      const rolledOut = await page.locator("#rolled-out").innerText();
      for (const fact of [
        ROLLED_OUT.injectionId,
        ROLLED_OUT.moduleSha256,
        "alice, bob",
        ROLLED_OUT.reason,
        ROLLED_OUT.expires,
      ])
        assert.ok(rolledOut.includes(fact), `what was rolled out names ${fact}`);
      const actions = await page.locator("#actions li").allInnerTexts();
      assert.match(actions[0]!, /canary injected into edge-1\/graft-slot-0/);
      assert.match(
        actions.at(-1)!,
        kind === "PROMOTE" ? /promoted to edge-3/ : /rolled back edge-1\/graft-slot-0/,
      );
      for (const metric of ["5xx", "slow>50ms"]) {
        const arms = page.locator(`#arms figure[data-metric="${metric}"] svg polyline`);
        assert.equal(await arms.count(), 3, `${metric}: canary, baseline and the allowed line`);
        assert.equal(await page.locator(`#evidence figure[data-metric="${metric}"] svg polyline`).count(), 2);
        assert.match(
          await page.locator(`#evidence figure[data-metric="${metric}"]`).innerText(),
          /ROLLBACK at .*PROMOTE at|PROMOTE at .*ROLLBACK at/s,
        );
      }
      // Nothing left blank: the content fills the page it is on.
      const height = await page.evaluate(() => document.body.scrollHeight);
      assert.ok(height > 1200, `the report is ${height} px tall`);
      await page.screenshot({
        path: path.join(ARTIFACTS, `report-${kind.toLowerCase()}.png`),
        fullPage: true,
      });
      await page.close();
    });
  }

  it("serves a live view on 127.0.0.1 that follows the looks and ends on the verdict", async () => {
    const final = syntheticResult("ROLLBACK");
    const looks = syntheticLooks(30, 0.04);
    const view = await LiveView.start(
      {
        ...final,
        decision: "RUNNING",
        reason: "",
        canaryState: "not injected",
        looks: [],
        actions: final.actions.slice(0, 1),
        endedAt: "",
      },
      { refreshMs: 200 },
    );
    try {
      assert.match(view.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(view.url);
      assert.equal(await page.locator("body").getAttribute("data-state"), "running");
      assert.match(await page.locator("#plain").innerText(), /starting on edge-1/);
      for (const look of looks.slice(0, 3)) view.addLook(look);
      await page.waitForFunction(() =>
        /3 look\(s\)/.test(document.getElementById("plain")?.textContent ?? ""),
      );
      assert.equal(await page.locator("#arms figure").count(), 2);
      await page.screenshot({ path: path.join(ARTIFACTS, "live-view-running.png"), fullPage: true });
      view.finish(final);
      await page.waitForFunction(() => document.body.dataset.state === "done");
      assert.match(await page.locator("#plain").innerText(), /^Rolled back: /);
      await page.screenshot({ path: path.join(ARTIFACTS, "live-view-done.png"), fullPage: true });
      // Read-only: nothing but GET.
      assert.equal((await fetch(view.url, { method: "POST" })).status, 405);
      await page.close();
    } finally {
      await view.stop();
    }
  });
});
