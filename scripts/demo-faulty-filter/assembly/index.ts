// The demo's faulty build of header-rewrite: the same filter, except that every 25th request on a
// worker is answered 503 by the filter itself. `npm run demo` signs it like any release and shows
// the canary judge rolling it back. Not part of the filter library.
export {
  malloc,
  free,
  proxy_abi_version_0_2_1,
  proxy_on_vm_start,
  proxy_validate_configuration,
  proxy_on_configure,
  proxy_on_context_create,
  proxy_on_request_headers,
  proxy_on_response_headers,
  proxy_on_delete,
} from "../../../assembly/exports";
import { RootContext, FilterHeadersStatusValues, registerFilter, sendReply } from "../../../assembly";
import { ROOT_ID } from "../../../filters/header-rewrite/assembly/contract.generated";
import { HeaderRewriteRoot, HeaderRewriteStream } from "../../../filters/header-rewrite/assembly/filter";

let requests: u32 = 0;

class FaultyStream extends HeaderRewriteStream {
  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    requests++;
    if (requests % 25 == 0) {
      sendReply(503, "graft_demo_fault", '{"error":"injected fault"}', "application/json");
      return FilterHeadersStatusValues.StopIteration;
    }
    return super.onRequestHeaders(headers, end_of_stream);
  }
}

class FaultyRoot extends HeaderRewriteRoot {
  createContext(context_id: u32): FaultyStream {
    return new FaultyStream(context_id, this);
  }
}

registerFilter(ROOT_ID, (context_id: u32): RootContext => new FaultyRoot(context_id));
