// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { fail, say } from "../output.ts";
import { findFilter } from "../../filters/catalog.ts";
import { writeFileAtomic } from "../../sign/files.ts";
import { asGraftError, parseInteger, parseNumber } from "../../mesh/cli-options.ts";
import { renderCanary, renderMetricTemplate } from "../../mesh/analysis/flagger.ts";
import { toYamlDocuments } from "../../mesh/yaml-documents.ts";

interface FlaggerOptions {
  namespace: string;
  target: string;
  port: number;
  canaryInjection: string;
  baselineInjection: string;
  prometheus: string;
  maxIncrease: number;
  interval: string;
  out?: string;
}

/**
 * `graft flagger <filter> --namespace ns --target deploy --port 8080 --canary-injection id --baseline-injection id`:
 * a Flagger MetricTemplate comparing the filter's bad-event ratio between canary and primary, and a Canary
 * whose analysis uses it.
 */
export function register(program: Command): void {
  program
    .command("flagger")
    .description(
      "render a Flagger MetricTemplate and Canary analysis judging a filter's bad-event ratio (canary vs primary)",
    )
    .argument("<filter>", "filter name (filters/<name>) or folder")
    .requiredOption("--namespace <ns>", "namespace of the workload and the template")
    .requiredOption("--target <deployment>", "the Deployment Flagger canaries")
    .requiredOption("--port <n>", "its service port", parseInteger("--port"))
    .requiredOption("--canary-injection <id>", "injection_id of the canary's configuration")
    .requiredOption("--baseline-injection <id>", "injection_id of the primary's configuration")
    .option("--prometheus <url>", "Prometheus address", "http://prometheus.istio-system:9090")
    .option(
      "--max-increase <ratio>",
      "largest accepted canary - baseline bad events per request",
      parseNumber("--max-increase"),
      0.01,
    )
    .option("--interval <d>", "analysis interval and PromQL range", "1m")
    .option("--out <file>", "write the YAML here instead of stdout")
    .action(async (filterName: string, options: FlaggerOptions, command: Command) => {
      try {
        const input = {
          filter: findFilter(filterName),
          namespace: options.namespace,
          prometheusAddress: options.prometheus,
          maxIncrease: options.maxIncrease,
          interval: options.interval,
          target: options.target,
          port: options.port,
          canaryInjection: options.canaryInjection,
          baselineInjection: options.baselineInjection,
        };
        const text = toYamlDocuments([renderMetricTemplate(input), renderCanary(input)]);
        if (options.out === undefined) say(command, text.trimEnd());
        else await writeFileAtomic(options.out, text);
      } catch (error) {
        fail(command, asGraftError(error));
      }
    });
}
