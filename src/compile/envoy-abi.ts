/**
 * What Envoy 1.40 (proxy-wasm-cpp-host) gives a module that exports proxy_abi_version_0_2_1.
 * A module importing anything else fails to load in Envoy with "missing import", so the build
 * refuses it first, naming the import. Source: proxy-wasm-cpp-host as built into Envoy 1.40, checked
 * against the real binary by tests/sdk/proxy-runtime-patch.test.ts.
 */
export const SUPPORTED_ABI_EXPORTS = ["proxy_abi_version_0_2_0", "proxy_abi_version_0_2_1"] as const;

const HOST_FUNCTIONS = [
  "proxy_log",
  "proxy_get_status",
  "proxy_set_property",
  "proxy_get_property",
  "proxy_send_local_response",
  "proxy_get_shared_data",
  "proxy_set_shared_data",
  "proxy_register_shared_queue",
  "proxy_resolve_shared_queue",
  "proxy_enqueue_shared_queue",
  "proxy_dequeue_shared_queue",
  "proxy_get_header_map_value",
  "proxy_add_header_map_value",
  "proxy_replace_header_map_value",
  "proxy_remove_header_map_value",
  "proxy_get_header_map_pairs",
  "proxy_set_header_map_pairs",
  "proxy_get_header_map_size",
  "proxy_get_buffer_status",
  "proxy_get_buffer_bytes",
  "proxy_set_buffer_bytes",
  "proxy_http_call",
  "proxy_grpc_call",
  "proxy_grpc_stream",
  "proxy_grpc_close",
  "proxy_grpc_cancel",
  "proxy_grpc_send",
  "proxy_set_tick_period_milliseconds",
  "proxy_get_current_time_nanoseconds",
  "proxy_define_metric",
  "proxy_increment_metric",
  "proxy_record_metric",
  "proxy_get_metric",
  "proxy_set_effective_context",
  "proxy_done",
  "proxy_call_foreign_function",
  // ABI 0.2.x
  "proxy_continue_stream",
  "proxy_close_stream",
  // ABI 0.2.1
  "proxy_get_log_level",
];

const WASI_FUNCTIONS = [
  "fd_write",
  "fd_read",
  "fd_seek",
  "fd_close",
  "fd_fdstat_get",
  "fd_fdstat_set_flags",
  "fd_prestat_get",
  "fd_prestat_dir_name",
  "path_open",
  "environ_get",
  "environ_sizes_get",
  "args_get",
  "args_sizes_get",
  "clock_time_get",
  "clock_res_get",
  "random_get",
  "proc_exit",
  "sched_yield",
  "poll_oneoff",
];

/** Imports a 0.2.x module may have, as `module.name`. */
export const ENVOY_IMPORTS: ReadonlySet<string> = new Set([
  ...HOST_FUNCTIONS.map((name) => `env.${name}`),
  "env.envoy_resolve_dns",
  ...WASI_FUNCTIONS.flatMap((name) => [`wasi_unstable.${name}`, `wasi_snapshot_preview1.${name}`]),
]);

/** Hints for imports AssemblyScript code pulls in by accident. */
const IMPORT_HINTS: Record<string, string> = {
  "env.abort": "compile with --use abort=abort_proc_exit (asconfig.json does)",
  "env.trace": "remove trace() calls; log through the SDK instead",
  "env.seed": "Math.random needs env.seed; use WASI random_get",
  "env.Date.now": "Date.now needs env.Date.now; use the SDK's current-time helper",
  "env.proxy_clear_route_cache":
    "Envoy gives this only to ABI 0.1.0 modules; use the clear_route_cache foreign function",
};

export interface ModuleCheck {
  imports: string[];
  exports: string[];
  abi: string | undefined;
  problems: string[];
}

/** Checks a compiled module against what Envoy 1.40 provides; `problems` is empty when it would load. */
export function checkModuleForEnvoy(bytes: Uint8Array<ArrayBuffer>): ModuleCheck {
  const module = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(module).map((entry) => `${entry.module}.${entry.name}`);
  const exports = WebAssembly.Module.exports(module).map((entry) => entry.name);
  const problems: string[] = [];
  for (const name of imports) {
    if (!ENVOY_IMPORTS.has(name)) {
      const hint = IMPORT_HINTS[name];
      problems.push(`imports ${name}, which Envoy 1.40 does not provide${hint ? `: ${hint}` : ""}`);
    }
  }
  const abi = exports.find((name) => name.startsWith("proxy_abi_version_"));
  if (!abi) problems.push("exports no proxy_abi_version_* marker; Envoy refuses modules without one");
  else if (!(SUPPORTED_ABI_EXPORTS as readonly string[]).includes(abi)) {
    problems.push(`exports ${abi}; graft targets ${SUPPORTED_ABI_EXPORTS.join(" or ")}`);
  }
  if (!exports.includes("malloc") && !exports.includes("proxy_on_memory_allocate")) {
    problems.push("exports neither malloc nor proxy_on_memory_allocate; the host cannot hand it data");
  }
  return { imports, exports, abi, problems };
}
