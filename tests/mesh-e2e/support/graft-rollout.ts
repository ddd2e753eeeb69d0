// SPDX-License-Identifier: Apache-2.0
/**
 * `graft rollout` on the Istio engine as an operator runs it: a plan file, a signed release (module,
 * configuration, envelope), a trust policy file and a kubeconfig; the command's JSON answer and exit code.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { projectRoot } from "../../../src/util/paths.ts";
import type { Approver } from "./signing.ts";

export interface RolloutRun {
  exitCode: number;
  /** `--json`'s answer. */
  answer: {
    decision: string;
    reason: string;
    canaryState: string;
    canary: string[];
    baseline: string[];
    actions: { action: string; results: { target: string; slot: string; injectionId?: string }[] }[];
  };
  stderr: string;
}

/** A trust policy file trusting `approvers` for every filter. */
export function writePolicyFile(file: string, approvers: Approver[]): string {
  writeFileSync(
    file,
    yaml.dump({
      version: 1,
      maxTtl: "24h",
      keys: approvers.map((a) => ({
        name: a.name,
        id: a.pair.keyId,
        publicKey: a.pair.publicKeyPem,
        filters: ["*"],
      })),
    }),
  );
  return file;
}

export async function graftRollout(input: {
  workDir: string;
  name: string;
  plan: Record<string, unknown>;
  /** The filter's folder (an author's own filter, outside this repository). */
  filterDir: string;
  module: string;
  url: string;
  configuration: unknown;
  envelopeJson: string;
  policyFile: string;
  kubeconfig: string;
  auditLog: string;
}): Promise<RolloutRun> {
  const file = (suffix: string, text: string) => {
    const full = path.join(input.workDir, `${input.name}.${suffix}`);
    writeFileSync(full, text);
    return full;
  };
  const args = [
    path.join(projectRoot, "bin", "graft.js"),
    "rollout",
    input.module,
    "--plan",
    file("plan.yaml", yaml.dump(input.plan)),
    "--config",
    file("config.json", JSON.stringify(input.configuration)),
    "--envelope",
    file("envelope.json", input.envelopeJson),
    "--policy",
    input.policyFile,
    "--filter",
    input.filterDir,
    "--url",
    input.url,
    "--kubeconfig",
    input.kubeconfig,
    "--audit-log",
    input.auditLog,
    "--report-dir",
    path.join(input.workDir, `${input.name}-report`),
    "--actor",
    "mesh-e2e",
    "--json",
  ];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: projectRoot, timeout: 120_000 }, (error, stdout, stderr) => {
      const exitCode = error ? ((error as { code?: unknown }).code as number) : 0;
      if (typeof exitCode !== "number") return reject(error!);
      try {
        resolve({ exitCode, answer: JSON.parse(stdout) as RolloutRun["answer"], stderr });
      } catch {
        reject(new Error(`graft rollout exited ${exitCode} without a JSON answer:\n${stdout}\n${stderr}`));
      }
    });
  });
}
