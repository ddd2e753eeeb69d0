import type { Command } from "commander";
import { disableFleet } from "../../inject/fleet.ts";
import {
  chooseTargets,
  fleetContext,
  fleetOptions,
  printReport,
  type FleetOptions,
} from "../fleet-options.ts";

export function register(program: Command): void {
  fleetOptions(
    program
      .command("disable")
      .description("kill switch: every slot of the chosen Envoys back to the no-op filter"),
  ).action(async (options: FleetOptions) => {
    const targets = await chooseTargets(options);
    printReport(await disableFleet(targets, await fleetContext(options, targets)));
  });
}
