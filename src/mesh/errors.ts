// SPDX-License-Identifier: Apache-2.0
import { GraftError } from "../sign/errors.ts";

export type MeshErrorCode =
  /** The registry refused a request or answered something unusable. */
  | "REGISTRY_ERROR"
  /** An image is not a Wasm image graft (and Istio) can read. */
  | "INVALID_IMAGE"
  /** A flag, file or field given to a mesh command is unusable; the message names it and the fix. */
  | "INVALID_INPUT";

/** Errors of src/mesh. They are GraftErrors, so the CLI prints them as `error: CODE: message`. */
export class MeshError extends GraftError<MeshErrorCode> {}
