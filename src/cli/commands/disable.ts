import type { Command } from "commander";
import { disableFleet } from "../../inject/fleet.ts";
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
      .command("disable")
      .description("kill switch: every slot of the chosen Envoys back to the no-op filter"),
  ).action(async (options: FleetOptions, command: Command) => {
    const targets = await chooseTargets(options);
    const context = await fleetContext(options, targets);
    await runFleetCommand(command, targets, () => disableFleet(targets, context));
  });
}
