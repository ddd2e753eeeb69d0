// The demo's faulty build of header-rewrite: the same filter, except that every 25th request on a
// worker is answered 503 by the filter itself. `npm run demo` signs it like any release and shows
// the canary judge rolling it back. Not part of the filter library.
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { Context, RootContext, registerRootContext, FilterHeadersStatusValues } from "@solo-io/proxy-runtime/assembly";
import { sendReply } from "../../../assembly";
import { FILTER, HeaderRewriteRoot, HeaderRewriteStream } from "../../../filters/header-rewrite/assembly/filter";

let requests: u32 = 0;

class FaultyStream extends HeaderRewriteStream {
  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    requests++;
    if (requests % 25 == 0) {
      sendReply(503, "graft_demo_fault", "{\"error\":\"injected fault\"}", "application/json");
      return FilterHeadersStatusValues.StopIteration;
    }
    return super.onRequestHeaders(headers, end_of_stream);
  }
}

class FaultyRoot extends HeaderRewriteRoot {
  createContext(context_id: u32): Context {
    return new FaultyStream(context_id, this);
  }
}

registerRootContext((context_id: u32): RootContext => new FaultyRoot(context_id), FILTER);
