// header-rewrite: rules that set, append or remove request and response headers, chosen by
// method, path and headers. Configuration: ../schema.json; behaviour: ../README.md.
//
// Only the callbacks the filter uses are exported: Envoy skips a callback a module does not
// export, and each entry into the VM costs about a microsecond.
export { malloc, free } from "@solo-io/proxy-runtime/assembly/malloc";
export {
  proxy_abi_version_0_2_1,
  proxy_on_vm_start,
  proxy_validate_configuration,
  proxy_on_configure,
  proxy_on_context_create,
  proxy_on_request_headers,
  proxy_on_response_headers,
  proxy_on_delete,
} from "@solo-io/proxy-runtime/assembly/exports";
import { RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";
import { FILTER, HeaderRewriteRoot } from "./filter";

registerRootContext((context_id: u32): RootContext => new HeaderRewriteRoot(context_id), FILTER);
