// SPDX-License-Identifier: Apache-2.0
import type { FilterInfo } from "../../filters/catalog.ts";
import { MeshError } from "../errors.ts";
import { badEventRatioIncrease } from "./promql.ts";

export interface ArgoInput {
  filter: FilterInfo;
  prometheusAddress: string;
  maxIncrease: number;
  /** PromQL range and measurement interval, e.g. `2m`. */
  interval: string;
  /** Measurements before the analysis succeeds, and failures it tolerates. */
  count?: number;
  failureLimit?: number;
  /** The label of Istio's request metric that tells canary pods from stable ones; default destination_workload. */
  workloadLabel?: string;
}

export const ARGO_ARGS = [
  "namespace",
  "canary-workload",
  "baseline-workload",
  "canary-injection",
  "baseline-injection",
] as const;

/**
 * An Argo Rollouts AnalysisTemplate with the same comparison as the Flagger template. The workloads and
 * injection ids are arguments (the Rollout's analysis step passes them), because Argo has no built-in
 * canary/stable names; with Rollouts, canary and stable pods often share destination_workload, so
 * --workload-label destination_canonical_revision (pod label service.istio.io/canonical-revision) is the
 * usual choice.
 */
export function renderAnalysisTemplate(input: ArgoInput): Record<string, unknown> {
  if (!Number.isFinite(input.maxIncrease))
    throw new MeshError("INVALID_INPUT", `--max-increase ${input.maxIncrease}: want a number such as 0.01`);
  const query = badEventRatioIncrease({
    filter: input.filter,
    namespace: "{{args.namespace}}",
    interval: input.interval,
    canary: { workload: "{{args.canary-workload}}", injection: "{{args.canary-injection}}" },
    baseline: { workload: "{{args.baseline-workload}}", injection: "{{args.baseline-injection}}" },
    ...(input.workloadLabel ? { workloadLabel: input.workloadLabel } : {}),
  });
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AnalysisTemplate",
    metadata: {
      name: `graft-${input.filter.name}-bad-event-ratio`,
      labels: { "app.kubernetes.io/managed-by": "graft" },
    },
    spec: {
      args: ARGO_ARGS.map((name) => ({ name })),
      metrics: [
        {
          name: `graft-${input.filter.name}-bad-event-ratio-increase`,
          interval: input.interval,
          count: input.count ?? 5,
          failureLimit: input.failureLimit ?? 1,
          successCondition: `len(result) > 0 && result[0] <= ${input.maxIncrease}`,
          provider: { prometheus: { address: input.prometheusAddress, query: `${query}\n` } },
        },
      ],
    },
  };
}
