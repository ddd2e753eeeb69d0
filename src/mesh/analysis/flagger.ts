// SPDX-License-Identifier: Apache-2.0
import type { FilterInfo } from "../../filters/catalog.ts";
import { checkObjectName } from "../kubernetes/names.ts";
import { badEventRatioIncrease } from "./promql.ts";

export interface FlaggerInput {
  filter: FilterInfo;
  namespace: string;
  prometheusAddress: string;
  /** The largest accepted increase of the bad-event ratio (canary - baseline), e.g. 0.01. */
  maxIncrease: number;
  /** Flagger's analysis interval, e.g. `1m` (also the PromQL range through {{ interval }}). */
  interval: string;
  /** The Deployment Flagger canaries (the Canary's targetRef) and its service port. */
  target: string;
  port: number;
  canaryInjection: string;
  baselineInjection: string;
}

export function metricTemplateName(filter: FilterInfo): string {
  return `graft-${filter.name}-bad-event-ratio`;
}

/**
 * A Flagger MetricTemplate comparing the filter's bad-event ratio between Flagger's canary pods
 * (workload `{{ target }}`) and primary pods (`{{ target }}-primary`). The injection ids are template
 * variables, set by each Canary (templateVariables), so one template serves every release.
 */
export function renderMetricTemplate(input: FlaggerInput): Record<string, unknown> {
  const query = badEventRatioIncrease({
    filter: input.filter,
    namespace: "{{ namespace }}",
    interval: "{{ interval }}",
    canary: { workload: "{{ target }}", injection: "{{ variables.canary_injection }}" },
    baseline: { workload: "{{ target }}-primary", injection: "{{ variables.baseline_injection }}" },
  });
  return {
    apiVersion: "flagger.app/v1beta1",
    kind: "MetricTemplate",
    metadata: {
      name: metricTemplateName(input.filter),
      namespace: checkObjectName(input.namespace, "--namespace"),
      labels: { "app.kubernetes.io/managed-by": "graft" },
    },
    spec: { provider: { type: "prometheus", address: input.prometheusAddress }, query: `${query}\n` },
  };
}

/** The Canary's `analysis.metrics` entry that uses the template. */
export function canaryAnalysisMetric(input: FlaggerInput): Record<string, unknown> {
  return {
    name: `graft-${input.filter.name}-bad-event-ratio-increase`,
    templateRef: { name: metricTemplateName(input.filter), namespace: input.namespace },
    templateVariables: {
      canary_injection: input.canaryInjection,
      baseline_injection: input.baselineInjection,
    },
    thresholdRange: { max: input.maxIncrease },
    interval: input.interval,
  };
}

/**
 * A Canary whose analysis runs the metric (the snippet to merge is `spec.analysis.metrics[0]`). Flagger
 * labels primary pods `app: <target>-primary`, which is how `graft istio canary --split-label app` tells
 * them from the canary's.
 */
export function renderCanary(input: FlaggerInput): Record<string, unknown> {
  return {
    apiVersion: "flagger.app/v1beta1",
    kind: "Canary",
    metadata: { name: checkObjectName(input.target, "--target"), namespace: input.namespace },
    spec: {
      provider: "istio",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: input.target },
      service: { port: input.port },
      analysis: {
        interval: input.interval,
        threshold: 5,
        maxWeight: 50,
        stepWeight: 10,
        metrics: [canaryAnalysisMetric(input)],
      },
    },
  };
}
