import type { Command } from "commander";
import { expireFleet } from "../../inject/fleet.ts";
import { hasAgents } from "../../inject/agent-fleet.ts";
import { chooseTargets, fleetOptions, type FleetOptions } from "../fleet-options.ts";

export function register(program: Command): void {
  fleetOptions(
    program
      .command("control")
      .description("keep removing expired injections from the chosen Envoys (runs until stopped, or --once)")
      .option("--interval <seconds>", "seconds between passes", "5")
      .option("--once", "one pass, then exit"),
  ).action(async (options: FleetOptions & { interval: string; once?: boolean }) => {
    const interval = Number(options.interval);
    if (!(interval > 0))
      throw new Error(`--interval ${options.interval}: expected a positive number of seconds`);
    let stopping = false;
    process.once("SIGINT", () => (stopping = true));
    process.once("SIGTERM", () => (stopping = true));
    do {
      const targets = await chooseTargets(options);
      if (hasAgents(targets)) {
        console.log(
          "these targets have graft agents: each enforces TTLs on its own timer; nothing to do here",
        );
        return;
      }
      for (const result of await expireFleet(targets, options)) {
        console.log(
          `${new Date().toISOString()} ${result.target}/${result.slot}: expired injection removed; now ${result.injectionId ?? "empty"}`,
        );
      }
      if (options.once) break;
      await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    } while (!stopping);
  });
}
