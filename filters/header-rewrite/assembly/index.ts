// header-rewrite: rules that set, append or remove request and response headers, chosen by
// method, path and headers. Contract: ../filter.json; configuration: ../schema.json; behaviour: ../README.md.
//
// Only the callbacks the filter uses are exported: Envoy skips a callback a module does not
// export, and each entry into the VM costs about a microsecond.
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
import { HeaderRewriteRoot } from "./filter";

registerFilter(ROOT_ID, (context_id: u32): RootContext => new HeaderRewriteRoot(context_id));
