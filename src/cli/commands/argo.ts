// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { fail, say } from "../output.ts";
import { findFilter } from "../../filters/catalog.ts";
import { writeFileAtomic } from "../../sign/files.ts";
import { asGraftError, parseInteger, parseNumber } from "../../mesh/cli-options.ts";
import { renderAnalysisTemplate } from "../../mesh/analysis/argo.ts";
import { toYamlDocuments } from "../../mesh/yaml-documents.ts";

interface ArgoOptions {
  prometheus: string;
  maxIncrease: number;
  interval: string;
  count: number;
  failureLimit: number;
  workloadLabel: string;
  out?: string;
}

/** `graft argo <filter>`: an Argo Rollouts AnalysisTemplate judging the filter's bad-event ratio. */
export function register(program: Command): void {
  program
    .command("argo")
    .description(
      "render an Argo Rollouts AnalysisTemplate judging a filter's bad-event ratio (canary vs baseline)",
    )
    .argument("<filter>", "filter name (filters/<name>) or folder")
    .option("--prometheus <url>", "Prometheus address", "http://prometheus.istio-system:9090")
    .option(
      "--max-increase <ratio>",
      "largest accepted canary - baseline bad events per request",
      parseNumber("--max-increase"),
      0.01,
    )
    .option("--interval <d>", "measurement interval and PromQL range", "1m")
    .option("--count <n>", "measurements", parseInteger("--count"), 5)
    .option("--failure-limit <n>", "failed measurements tolerated", parseInteger("--failure-limit"), 1)
    .option(
      "--workload-label <label>",
      "label of istio_requests_total telling canary from stable pods",
      "destination_workload",
    )
    .option("--out <file>", "write the YAML here instead of stdout")
    .action(async (filterName: string, options: ArgoOptions, command: Command) => {
      try {
        const template = renderAnalysisTemplate({
          filter: findFilter(filterName),
          prometheusAddress: options.prometheus,
          maxIncrease: options.maxIncrease,
          interval: options.interval,
          count: options.count,
          failureLimit: options.failureLimit,
          workloadLabel: options.workloadLabel,
        });
        const text = toYamlDocuments([template]);
        if (options.out === undefined) say(command, text.trimEnd());
        else await writeFileAtomic(options.out, text);
      } catch (error) {
        fail(command, asGraftError(error));
      }
    });
}
