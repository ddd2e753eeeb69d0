// header-rewrite: rules that set, append or remove request and response headers, chosen by
// method, path and headers. Configuration: ../schema.json; behaviour: ../README.md.
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";
import { FILTER, HeaderRewriteRoot } from "./filter";

registerRootContext((context_id: u32): RootContext => new HeaderRewriteRoot(context_id), FILTER);
