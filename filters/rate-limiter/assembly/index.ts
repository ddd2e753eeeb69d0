// rate-limiter: token buckets in shared data, so a limit holds across all of Envoy's workers.
// Contract: ../filter.json; configuration: ../schema.json; behaviour, key space and error bounds:
// ../README.md.
//
// The module exports only the callbacks the filter uses. Envoy (proxy-wasm-cpp-host) skips a
// callback the module does not export, and each call into the VM costs about a microsecond here:
// without proxy_on_request_body, _response_body, _trailers, _metadata, _done and _log a request
// enters the VM four times (create, request headers, response headers, delete) instead of seven.
export {
  malloc,
  free,
  proxy_abi_version_0_2_1,
  proxy_on_vm_start,
  proxy_validate_configuration,
  proxy_on_configure,
  proxy_on_tick,
  proxy_on_context_create,
  proxy_on_request_headers,
  proxy_on_response_headers,
  proxy_on_delete,
} from "../../../assembly/exports";
import { RootContext, registerFilter } from "../../../assembly";
import { ROOT_ID } from "./contract.generated";
import { RateLimitRoot } from "./filter";

registerFilter(ROOT_ID, (context_id: u32): RootContext => new RateLimitRoot(context_id));
