import type { HttpFilter } from "./bootstrap.ts";

export const WASM_FILTER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

export type FailurePolicy = "FAIL_CLOSED" | "FAIL_OPEN" | "FAIL_RELOAD";

export interface WasmFilterSpec {
  /** Envoy filter and plugin name; shows in logs as `wasm log <name>`. */
  name: string;
  /** Must equal the name the module passes to registerRootContext. */
  rootId: string;
  /** Path of the .wasm file Envoy loads. */
  wasmPath: string;
  /** Plugin configuration: an object is sent as JSON, a string as it is. */
  configuration: unknown;
  /** Set explicitly: the proto and the 1.33 release note disagree on the default. */
  failurePolicy?: FailurePolicy;
  vmId?: string;
  /** Environment variables for the VM (WASI environ); a change makes Envoy build a new VM. */
  env?: Record<string, string>;
}

/** The `envoy.filters.http.wasm` typed config for one plugin. */
export function wasmTypedConfig(spec: WasmFilterSpec): Record<string, unknown> {
  const configuration =
    typeof spec.configuration === "string" ? spec.configuration : JSON.stringify(spec.configuration);
  return {
    "@type": WASM_FILTER_TYPE_URL,
    config: {
      name: spec.name,
      root_id: spec.rootId,
      vm_config: {
        vm_id: spec.vmId ?? spec.name,
        runtime: "envoy.wasm.runtime.v8",
        code: { local: { filename: spec.wasmPath } },
        ...(spec.env ? { environment_variables: { key_values: spec.env } } : {}),
      },
      configuration: { "@type": "type.googleapis.com/google.protobuf.StringValue", value: configuration },
      failure_policy: spec.failurePolicy ?? "FAIL_CLOSED",
    },
  };
}

export function wasmHttpFilter(spec: WasmFilterSpec): HttpFilter {
  return { name: spec.name, typed_config: wasmTypedConfig(spec) };
}
