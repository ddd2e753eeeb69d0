import type { Command } from "commander";
import { rollbackFleet } from "../../inject/fleet.ts";
import {
  chooseTargets,
  fleetContext,
  fleetOptions,
  runFleetCommand,
  type FleetOptions,
} from "../fleet-options.ts";

export function register(program: Command): void {
  fleetOptions(
    program
      .command("rollback")
      .description("return a slot on the chosen Envoys to the injection before the active one (or empty)")
      .requiredOption("--slot <name>", "filter slot"),
  ).action(async (options: FleetOptions & { slot: string }, command: Command) => {
    const targets = await chooseTargets(options);
    const context = await fleetContext(options, targets);
    await runFleetCommand(command, targets, () => rollbackFleet(targets, options.slot, context));
  });
}
