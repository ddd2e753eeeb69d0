import type { Command } from "commander";
import { expireFleet } from "../../inject/fleet.ts";
import { hasAgents } from "../../inject/agent-fleet.ts";
import { GraftError } from "../../util/errors.ts";
import { chooseTargets, fleetOptions, type FleetOptions } from "../fleet-options.ts";
import { say } from "../output.ts";

/**
 * `graft control`: the TTL enforcer for file-mode targets. It says when it starts, what each pass
 * checked and what it removed, so an operator can tell a quiet controller from a dead one. With
 * --json every pass is one JSON line.
 */
export function register(program: Command): void {
  fleetOptions(
    program
      .command("control")
      .description("keep removing expired injections from the chosen Envoys (runs until stopped, or --once)")
      .option("--interval <seconds>", "seconds between passes", "5")
      .option("--once", "one pass, then exit"),
  ).action(async (options: FleetOptions & { interval: string; once?: boolean }, command: Command) => {
    const interval = Number(options.interval);
    if (!(interval > 0))
      throw new GraftError(
        "INVALID_OPTION",
        `--interval ${options.interval}: expected a positive number of seconds`,
      );
    const print = (human: string, value: Record<string, unknown>) =>
      say(
        command,
        options.json
          ? JSON.stringify({ command: "control", time: new Date().toISOString(), ...value })
          : human,
      );
    let stopping = false;
    process.once("SIGINT", () => (stopping = true));
    process.once("SIGTERM", () => (stopping = true));
    let pass = 0;
    do {
      const targets = await chooseTargets(options);
      if (hasAgents(targets)) {
        print("these targets have graft agents: each enforces TTLs on its own timer; nothing to do here", {
          event: "agents",
          targets: targets.map((t) => t.name),
        });
        return;
      }
      const slots = targets.reduce((sum, target) => sum + target.slots.length, 0);
      if (pass === 0)
        print(
          `${new Date().toISOString()} graft control: checking ${slots} slot(s) on ${targets.length} target(s) (${targets.map((t) => t.name).join(", ")}) ${options.once ? "once" : `every ${interval} s until stopped`}; removing injections whose TTL has passed`,
          {
            event: "start",
            targets: targets.map((t) => t.name),
            slots,
            intervalSeconds: options.once ? null : interval,
          },
        );
      const removed = await expireFleet(targets, options);
      for (const result of removed)
        print(
          `${new Date().toISOString()} ${result.target}/${result.slot}: expired injection removed; now ${result.injectionId ?? "empty"} (version ${result.version})`,
          { event: "removed", ...result },
        );
      // A summary on the first pass and with --once; later quiet passes print nothing.
      if (pass === 0 || options.once || removed.length > 0)
        print(
          `${new Date().toISOString()} checked ${slots} slot(s) on ${targets.length} target(s): ${removed.length === 0 ? "nothing expired" : `removed ${removed.length} expired injection(s)`}`,
          { event: "checked", targets: targets.length, slots, removed: removed.length },
        );
      pass += 1;
      if (options.once) break;
      await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    } while (!stopping);
  });
}
