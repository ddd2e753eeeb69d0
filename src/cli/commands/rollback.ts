import type { Command } from "commander";
import { rollbackFleet } from "../../inject/fleet.ts";
import { chooseTargets, fleetOptions, printReport, type FleetOptions } from "../fleet-options.ts";

export function register(program: Command): void {
  fleetOptions(
    program
      .command("rollback")
      .description("return a slot on the chosen Envoys to the injection before the active one (or empty)")
      .requiredOption("--slot <name>", "filter slot"),
  ).action(async (options: FleetOptions & { slot: string }) => {
    printReport(await rollbackFleet(await chooseTargets(options), options.slot, options));
  });
}
