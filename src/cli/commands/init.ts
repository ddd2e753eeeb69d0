import path from "node:path";
import { mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { ensureSlotFile } from "../../inject/ecds-file.ts";
import { isValidSlotName } from "../../inject/slot.ts";
import { ecdsDirOf, starterFiles, type StarterFleet } from "../../init/templates.ts";
import { GraftError } from "../../util/errors.ts";
import { emit, jsonOption } from "../output.ts";

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new GraftError("INVALID_OPTION", `${flag} ${value}: expected a port number 1-65535`);
  return n;
}

/** `graft init`: commented starter files for a two-Envoy trial fleet (canary and baseline). */
export function register(program: Command): void {
  jsonOption(
    program
      .command("init")
      .description(
        "write commented starter files: targets.yaml, trust.yaml, plan.yaml, a filter configuration and an Envoy bootstrap per Envoy (slots, node, stats tags)",
      )
      .option("--dir <dir>", "folder to write them to (created if missing)", ".")
      .option("--slot <name>", "slot name", "graft-slot-0")
      .option("--envoys <names>", "comma-separated Envoy names; the first is the canary", "edge-1,edge-2")
      .option("--admin-port <port>", "admin port of the first Envoy (the next ones count up)", "9901")
      .option("--port <port>", "listener port of the first Envoy (the next ones count up)", "10000")
      .option("--upstream <host:port>", "where the listeners route to", "127.0.0.1:8080")
      .option("--key-name <name>", "the signing key trust.yaml trusts (keys/<name>.pub.pem)", "alice")
      .option("--force", "overwrite files that exist"),
  ).action(
    async (
      options: {
        dir: string;
        slot: string;
        envoys: string;
        adminPort: string;
        port: string;
        upstream: string;
        keyName: string;
        force?: boolean;
      },
      command: Command,
    ) => {
      if (!isValidSlotName(options.slot))
        throw new GraftError(
          "INVALID_OPTION",
          `--slot ${options.slot}: 1-64 characters of A-Z, a-z, 0-9, _ and -`,
        );
      const envoys = options.envoys.split(",").map((name) => name.trim());
      if (envoys.length < 2 || envoys.some((name) => !/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)))
        throw new GraftError(
          "INVALID_OPTION",
          `--envoys ${options.envoys}: expected two or more names of a-z, 0-9 and - (a canary and a baseline)`,
        );
      const at = options.upstream.lastIndexOf(":");
      if (at <= 0)
        throw new GraftError(
          "INVALID_OPTION",
          `--upstream ${options.upstream}: expected host:port, e.g. 127.0.0.1:8080`,
        );
      const fleet: StarterFleet = {
        dir: path.resolve(options.dir),
        slot: options.slot,
        envoys,
        adminPort: port(options.adminPort, "--admin-port"),
        port: port(options.port, "--port"),
        upstream: {
          host: options.upstream.slice(0, at),
          port: port(options.upstream.slice(at + 1), "--upstream"),
        },
        keyName: options.keyName,
      };
      const files = starterFiles(fleet);
      const existing = files.filter((file) => existsSync(path.join(fleet.dir, file.name)));
      if (existing.length > 0 && !options.force)
        throw new GraftError(
          "FILE_EXISTS",
          `${fleet.dir} already has ${existing.map((f) => f.name).join(", ")}; nothing was written (use --force to overwrite, or another --dir)`,
        );
      await mkdir(fleet.dir, { recursive: true });
      for (const file of files) await writeFile(path.join(fleet.dir, file.name), file.text);
      // Envoy refuses a listener whose slot file does not exist yet.
      for (const envoy of envoys) await ensureSlotFile(ecdsDirOf(fleet, envoy), fleet.slot);
      const written = files.map((file) => path.join(options.dir, file.name));
      emit(
        command,
        {
          dir: fleet.dir,
          files: written,
          slotFiles: envoys.map((e) => path.join(ecdsDirOf(fleet, e), `${fleet.slot}.yaml`)),
        },
        () => [
          `wrote ${written.join(", ")}`,
          "next:",
          `  cd ${options.dir} && graft keygen --out keys --name ${fleet.keyName}   # trust.yaml trusts keys/${fleet.keyName}.pub.pem`,
          `  start your upstream on ${options.upstream} and each Envoy: ${envoys.map((e, i) => `envoy -c envoy-${e}.yaml --base-id ${i + 1}`).join("; ")}`,
          "  then sign, inject and roll out as README.md's walkthrough shows",
        ],
      );
    },
  );
}
