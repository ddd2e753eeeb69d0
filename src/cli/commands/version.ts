import type { Command } from "commander";
import { createRequire } from "node:module";
import { envoyVersion, resolveEnvoyBinary } from "../../envoy/binary.ts";
import { emit, jsonOption } from "../output.ts";

const require = createRequire(import.meta.url);

export interface Versions {
  graft: string;
  envoy: string;
  envoyBuild: string;
  assemblyscript: string;
}

export async function versions(): Promise<Versions> {
  const graft = (require("../../../package.json") as { version: string }).version;
  const assemblyscript = (require("assemblyscript/package.json") as { version: string }).version;
  const envoy = await envoyVersion(resolveEnvoyBinary({ install: true }));
  return { graft, envoy: envoy.version, envoyBuild: envoy.build, assemblyscript };
}

export function register(program: Command): void {
  jsonOption(
    program.command("version").description("print the graft, Envoy and AssemblyScript versions"),
  ).action(async (_options: unknown, command: Command) => {
    const v = await versions();
    emit(
      command,
      { ...v },
      () => `graft ${v.graft}\nenvoy ${v.envoy} (${v.envoyBuild})\nassemblyscript ${v.assemblyscript}`,
    );
  });
}
