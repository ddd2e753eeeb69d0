// payload-validator: request size, media type and method checks, deny patterns, and a JSON Schema
// subset checked while the body streams. Contract: ../filter.json; configuration: ../schema.json;
// behaviour: ../README.md.
//
// Only the callbacks the filter uses are exported: Envoy skips a callback a module does not
// export (the response side, here), and each entry into the VM costs about a microsecond.
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
  proxy_on_request_body,
  proxy_on_request_trailers,
  proxy_on_delete,
} from "../../../assembly/exports";
import { RootContext, registerFilter } from "../../../assembly";
import { ROOT_ID } from "./contract.generated";
import { PayloadValidatorRoot } from "./filter";

registerFilter(ROOT_ID, (context_id: u32): RootContext => new PayloadValidatorRoot(context_id));
