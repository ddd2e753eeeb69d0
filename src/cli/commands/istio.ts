// SPDX-License-Identifier: Apache-2.0
import { Command } from "commander";
import { fail, say } from "../output.ts";
import { findFilter, listFilters } from "../../filters/catalog.ts";
import { loadConfigurationFile, readInputFile, writeFileAtomic } from "../../sign/files.ts";
import {
  asGraftError,
  collect,
  labelCollector,
  oneOf,
  parseInteger,
  parseTargetRef,
} from "../../mesh/cli-options.ts";
import { renderCanaryPair } from "../../mesh/istio/canary-pair.ts";
import { renderProxyStatsSettings } from "../../mesh/istio/proxy-stats.ts";
import {
  FAIL_STRATEGIES,
  PHASES,
  PULL_POLICIES,
  renderWasmPlugin,
  type FailStrategy,
  type Phase,
  type PullPolicy,
} from "../../mesh/istio/wasmplugin.ts";
import { toYamlDocuments } from "../../mesh/yaml-documents.ts";

interface CommonOptions {
  name?: string;
  namespace?: string;
  phase?: Phase;
  priority?: number;
  failStrategy?: FailStrategy;
  selector?: Record<string, string>;
  imagePullPolicy?: PullPolicy;
  imagePullSecret?: string;
  out?: string;
}

interface PluginOptions extends CommonOptions {
  url: string;
  sha256?: string;
  config: string;
  envelope?: string;
  targetRef?: string[];
}

interface CanaryOptions extends CommonOptions {
  splitLabel: string;
  stableValue: string;
  stableUrl: string;
  stableSha256?: string;
  stableConfig: string;
  stableEnvelope?: string;
  canaryValue: string;
  canaryUrl: string;
  canarySha256?: string;
  canaryConfig: string;
  canaryEnvelope?: string;
}

function commonOptions(command: Command): Command {
  return command
    .option("--name <name>", "metadata.name (default: the filter's name)")
    .option("--namespace <ns>", "metadata.namespace")
    .option("--phase <phase>", `where in the chain: ${PHASES.join(", ")}`, oneOf("--phase", PHASES))
    .option("--priority <n>", "order within the phase (higher runs first)", parseInteger("--priority"))
    .option(
      "--fail-strategy <s>",
      `${FAIL_STRATEGIES.join(", ")} (default FAIL_CLOSE)`,
      oneOf("--fail-strategy", FAIL_STRATEGIES),
    )
    .option("--selector <k=v>", "workload label to select (repeatable)", labelCollector("--selector"))
    .option(
      "--image-pull-policy <p>",
      `${PULL_POLICIES.join(", ")} (default IfNotPresent)`,
      oneOf("--image-pull-policy", PULL_POLICIES),
    )
    .option("--image-pull-secret <name>", "Secret (same namespace) with registry credentials")
    .option("--out <file>", "write the YAML here instead of stdout");
}

async function emit(command: Command, text: string, out: string | undefined): Promise<void> {
  if (out === undefined) say(command, text.trimEnd());
  else await writeFileAtomic(out, text);
}

async function envelopeText(file: string | undefined, flag: string): Promise<string | undefined> {
  return file === undefined ? undefined : (await readInputFile(file, flag)).toString("utf8");
}

/**
 * `graft istio plugin|canary|stats`: Istio WasmPlugin YAML for a filter (one plugin, or a stable/canary
 * pair split by a workload label) and the proxy settings that keep graft's metrics through Istio.
 */
export function register(program: Command): void {
  const istio = program
    .command("istio")
    .description("render Istio resources for a graft filter (WasmPlugin, canary pair, proxy stats settings)");

  commonOptions(
    istio
      .command("plugin")
      .description("an extensions.istio.io/v1alpha1 WasmPlugin for a filter, configuration and signed module")
      .argument("<filter>", "filter name (filters/<name>) or folder")
      .requiredOption(
        "--url <url>",
        "module URL: oci://host/repo:tag (default scheme), https://… or file:///…",
      )
      .option(
        "--sha256 <hex>",
        "pin: the image manifest digest for oci:// (graft push prints it), the module's sha256 otherwise",
      )
      .requiredOption("--config <file>", "the filter configuration (pluginConfig), .json or .yaml")
      .option(
        "--envelope <file>",
        "the signed envelope, carried in the graft.dev/envelope annotation for graft admission",
      )
      .option(
        "--target-ref <[group/]Kind/name>",
        "target a Gateway/Service instead of selecting workloads (repeatable)",
        collect,
      ),
  ).action(async (filterName: string, options: PluginOptions, command: Command) => {
    try {
      const plugin = renderWasmPlugin({
        filter: findFilter(filterName),
        url: options.url,
        ...(options.sha256 !== undefined ? { sha256: options.sha256 } : {}),
        configuration: await loadConfigurationFile(options.config),
        configurationSource: options.config,
        ...pick(options),
        ...(options.targetRef ? { targetRefs: options.targetRef.map(parseTargetRef) } : {}),
        ...(options.envelope !== undefined
          ? { envelopeJson: await envelopeText(options.envelope, "--envelope") }
          : {}),
      });
      await emit(command, toYamlDocuments([plugin]), options.out);
    } catch (error) {
      fail(command, asGraftError(error));
    }
  });

  commonOptions(
    istio
      .command("canary")
      .description("a stable and a canary WasmPlugin for one filter, split by a workload label")
      .argument("<filter>", "filter name (filters/<name>) or folder")
      .requiredOption(
        "--split-label <key>",
        "the pod label that differs, e.g. app (Flagger: app=<target>-primary vs app=<target>) or version",
      )
      .requiredOption("--stable-value <v>", "the split label's value on stable pods")
      .requiredOption("--stable-url <url>", "the stable module's URL")
      .option("--stable-sha256 <hex>", "the stable module's pin")
      .requiredOption("--stable-config <file>", "the stable configuration (its own injection_id)")
      .option("--stable-envelope <file>", "the stable signed envelope")
      .requiredOption("--canary-value <v>", "the split label's value on canary pods")
      .requiredOption("--canary-url <url>", "the canary module's URL")
      .option("--canary-sha256 <hex>", "the canary module's pin")
      .requiredOption("--canary-config <file>", "the canary configuration (its own injection_id)")
      .option("--canary-envelope <file>", "the canary signed envelope"),
  ).action(async (filterName: string, options: CanaryOptions, command: Command) => {
    try {
      const side = async (which: "stable" | "canary") => {
        const url = which === "stable" ? options.stableUrl : options.canaryUrl;
        const sha256 = which === "stable" ? options.stableSha256 : options.canarySha256;
        const config = which === "stable" ? options.stableConfig : options.canaryConfig;
        const envelope = which === "stable" ? options.stableEnvelope : options.canaryEnvelope;
        return {
          url,
          ...(sha256 !== undefined ? { sha256 } : {}),
          configuration: await loadConfigurationFile(config, `--${which}-config`),
          configurationSource: config,
          ...(envelope !== undefined
            ? { envelopeJson: await envelopeText(envelope, `--${which}-envelope`) }
            : {}),
          labelValue: which === "stable" ? options.stableValue : options.canaryValue,
        };
      };
      const pair = renderCanaryPair({
        filter: findFilter(filterName),
        ...pick(options),
        splitLabel: options.splitLabel,
        stable: await side("stable"),
        canary: await side("canary"),
      });
      await emit(command, toYamlDocuments(pair), options.out);
    } catch (error) {
      fail(command, asGraftError(error));
    }
  });

  istio
    .command("stats")
    .description(
      "proxy settings (meshConfig.defaultConfig or the proxy.istio.io/config pod annotation) that keep graft's metric names and tags",
    )
    .option("--filter <name...>", "only these filters' tags (default: every filter in filters/)")
    .option("--out <file>", "write the YAML here instead of stdout")
    .action(async (options: { filter?: string[]; out?: string }, command: Command) => {
      try {
        const filters = options.filter ? options.filter.map((name) => findFilter(name)) : listFilters();
        await emit(command, toYamlDocuments([renderProxyStatsSettings(filters)]), options.out);
      } catch (error) {
        fail(command, asGraftError(error));
      }
    });
}

function pick(options: CommonOptions) {
  return {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    ...(options.phase !== undefined ? { phase: options.phase } : {}),
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
    ...(options.failStrategy !== undefined ? { failStrategy: options.failStrategy } : {}),
    ...(options.selector !== undefined ? { selector: options.selector } : {}),
    ...(options.imagePullPolicy !== undefined ? { imagePullPolicy: options.imagePullPolicy } : {}),
    ...(options.imagePullSecret !== undefined ? { imagePullSecret: options.imagePullSecret } : {}),
  };
}
