// A filter's per-request context and how a filter registers its root. Streams reach their root
// through one typed field, never a cast of proxy-runtime's untyped root_context.
import { Context, RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";
import { GraftRootContext } from "./filter";

export abstract class GraftStream<R extends GraftRootContext> extends Context {
  /** The filter's root: its configuration, metrics and logger as they were when the stream began. */
  readonly root: R;

  constructor(context_id: u32, root: R) {
    super(context_id, root);
    this.root = root;
  }
}

/**
 * Registers the filter's root context under `rootId` (the contract's ROOT_ID). `create` must not
 * capture variables: AssemblyScript has no closures.
 */
export function registerFilter(rootId: string, create: (context_id: u32) => RootContext): void {
  registerRootContext(create, rootId);
}
