import type { Command } from "commander";
import { disableFleet } from "../../inject/fleet.ts";
import { chooseTargets, fleetOptions, printReport, type FleetOptions } from "../fleet-options.ts";

export function register(program: Command): void {
  fleetOptions(
    program
      .command("disable")
      .description("kill switch: every slot of the chosen Envoys back to the no-op filter"),
  ).action(async (options: FleetOptions) => {
    printReport(await disableFleet(await chooseTargets(options), options));
  });
}
