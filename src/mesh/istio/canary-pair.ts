// SPDX-License-Identifier: Apache-2.0
import { MeshError } from "../errors.ts";
import { checkLabel } from "../kubernetes/names.ts";
import { injectionIdOf, renderWasmPlugin, type WasmPlugin, type WasmPluginInput } from "./wasmplugin.ts";

/** One side of the pair: its module, configuration and signature. */
export interface CanarySide {
  url: string;
  sha256?: string;
  configuration: unknown;
  configurationSource: string;
  envelopeJson?: string;
  /** The value of the split label on this side's pods. */
  labelValue: string;
}

export interface CanaryPairInput extends Omit<
  WasmPluginInput,
  "url" | "sha256" | "configuration" | "configurationSource" | "envelopeJson" | "targetRefs"
> {
  /** The workload label that tells stable pods from canary pods, e.g. `app` (Flagger: app=x-primary vs app=x) or `version`. */
  splitLabel: string;
  stable: CanarySide;
  canary: CanarySide;
}

/**
 * Two WasmPlugins, `<name>-stable` and `<name>-canary`, that select disjoint pods by one label. The
 * configurations must carry different injection ids: the `injection` tag is how the canary's bad events
 * are told from the baseline's (see ../analysis/promql.ts).
 */
export function renderCanaryPair(input: CanaryPairInput): [WasmPlugin, WasmPlugin] {
  const { stable, canary, splitLabel } = input;
  checkLabel(splitLabel, stable.labelValue, "--stable-value");
  checkLabel(splitLabel, canary.labelValue, "--canary-value");
  if (stable.labelValue === canary.labelValue)
    throw new MeshError(
      "INVALID_INPUT",
      `--stable-value and --canary-value are both ${JSON.stringify(stable.labelValue)}: the two plugins would select the same pods`,
    );
  if (input.selector && splitLabel in input.selector)
    throw new MeshError(
      "INVALID_INPUT",
      `--selector sets ${splitLabel}, which is the split label: leave it out, --stable-value/--canary-value set it`,
    );
  const stableInjection = injectionIdOf(stable.configuration);
  const canaryInjection = injectionIdOf(canary.configuration);
  if (stableInjection === canaryInjection)
    throw new MeshError(
      "INVALID_INPUT",
      `the stable and canary configurations both have injection_id ${JSON.stringify(stableInjection)}: give each its own injection_id so their metrics can be compared`,
    );
  const base = input.name ?? input.filter.name;
  const side = (which: "stable" | "canary", s: CanarySide): WasmPlugin => {
    const { splitLabel: _split, stable: _stable, canary: _canary, ...common } = input;
    const plugin = renderWasmPlugin({
      ...common,
      name: `${base}-${which}`,
      url: s.url,
      ...(s.sha256 !== undefined ? { sha256: s.sha256 } : {}),
      configuration: s.configuration,
      configurationSource: s.configurationSource,
      ...(s.envelopeJson !== undefined ? { envelopeJson: s.envelopeJson } : {}),
      selector: { ...input.selector, [splitLabel]: s.labelValue },
    });
    plugin.metadata.labels["graft.dev/track"] = which;
    return plugin;
  };
  return [side("stable", stable), side("canary", canary)];
}
