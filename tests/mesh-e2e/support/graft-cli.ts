// SPDX-License-Identifier: Apache-2.0
/** The `graft` command as a user runs it (bin/graft.js), here to render a WasmPlugin with `graft istio plugin`. */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import yaml from "js-yaml";
import type { WasmPlugin } from "../../../src/mesh/istio/wasmplugin.ts";
import { projectRoot } from "../../../src/util/paths.ts";

const execFileAsync = promisify(execFile);

export interface PluginRequest {
  filter: string;
  name: string;
  namespace: string;
  url: string;
  configuration: unknown;
  selector: Record<string, string>;
  phase: string;
}

/** `graft istio plugin <filter> …` with the configuration in a file, parsed back from its YAML output. */
export async function graftIstioPlugin(request: PluginRequest, workDir: string): Promise<WasmPlugin> {
  const configFile = path.join(workDir, `${request.name}.config.json`);
  writeFileSync(configFile, JSON.stringify(request.configuration));
  const selectors = Object.entries(request.selector).flatMap(([key, value]) => [
    "--selector",
    `${key}=${value}`,
  ]);
  const { stdout } = await execFileAsync(
    process.execPath,
    [
      path.join(projectRoot, "bin", "graft.js"),
      "istio",
      "plugin",
      request.filter,
      "--url",
      request.url,
      "--config",
      configFile,
      "--name",
      request.name,
      "--namespace",
      request.namespace,
      "--phase",
      request.phase,
      ...selectors,
    ],
    { cwd: projectRoot, timeout: 60_000 },
  );
  return yaml.load(stdout) as WasmPlugin;
}
