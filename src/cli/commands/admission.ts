// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { fail, say } from "../output.ts";
import { readInputFile } from "../../sign/files.ts";
import { loadTrustPolicy } from "../../sign/policy.ts";
import { asGraftError, registryCredentials } from "../../mesh/cli-options.ts";
import { ModuleSource } from "../../mesh/admission/module-source.ts";
import { startWebhookServer } from "../../mesh/admission/server.ts";
import { MeshError } from "../../mesh/errors.ts";

interface AdmissionOptions {
  policy: string;
  cert: string;
  key: string;
  listen: string;
  registryPlainHttp?: boolean;
  username?: string;
  password?: string;
}

/**
 * `graft admission --policy trust.yaml --cert tls.crt --key tls.key [--listen 127.0.0.1:8443]`: the
 * validating admission webhook for WasmPlugins (see src/mesh/admission/review.ts for what it admits).
 * Runs until SIGINT/SIGTERM; logs one line per decision.
 */
export function register(program: Command): void {
  program
    .command("admission")
    .description(
      "serve a validating admission webhook that admits only WasmPlugins carrying a verified graft envelope",
    )
    .requiredOption("--policy <trust.yaml>", "the trust policy (keys, approvals, TTL)")
    .requiredOption("--cert <pem>", "serving certificate (the API server calls webhooks over TLS)")
    .requiredOption("--key <pem>", "its private key")
    .option("--listen <host:port>", "where to listen", "127.0.0.1:8443")
    .option(
      "--registry-plain-http",
      "fetch oci:// modules over HTTP from every registry (default: only loopback and .local)",
    )
    .option("--username <user>", "registry user for fetching modules (or GRAFT_REGISTRY_USERNAME)")
    .option("--password <password>", "registry password (prefer GRAFT_REGISTRY_PASSWORD)")
    .action(async (options: AdmissionOptions, command: Command) => {
      try {
        const match = /^(.+):(\d+)$/.exec(options.listen);
        if (!match)
          throw new MeshError(
            "INVALID_INPUT",
            `--listen ${JSON.stringify(options.listen)}: write host:port, e.g. 0.0.0.0:8443`,
          );
        const credentials = registryCredentials(options);
        const webhook = await startWebhookServer({
          cert: await readInputFile(options.cert, "--cert"),
          key: await readInputFile(options.key, "--key"),
          host: match[1]!.replace(/^\[|\]$/g, ""),
          port: Number(match[2]),
          policy: await loadTrustPolicy(options.policy),
          modules: new ModuleSource({
            ...(options.registryPlainHttp ? { registryPlainHttp: true } : {}),
            ...(credentials ? { registryCredentials: credentials } : {}),
          }),
          onDecision: (decision) =>
            say(
              command,
              `${new Date().toISOString()} ${decision.uid} ${decision.allowed ? "allowed" : `denied: ${decision.message}`}`,
            ),
        });
        say(command, `graft admission: listening on ${webhook.url} (policy ${options.policy})`);
        await new Promise<void>((resolve) => {
          const stop = () => void webhook.close().then(resolve);
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      } catch (error) {
        fail(command, asGraftError(error));
      }
    });
}
