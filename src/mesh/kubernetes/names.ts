// SPDX-License-Identifier: Apache-2.0
import { MeshError } from "../errors.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** A metadata.name or namespace (RFC 1123 label, ≤ 63): refused with the flag that gave it. */
export function checkObjectName(value: string, flag: string): string {
  if (value.length > 63 || !DNS_LABEL.test(value))
    throw new MeshError(
      "INVALID_INPUT",
      `${flag} ${JSON.stringify(value)}: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  return value;
}

/** A label selector entry: Kubernetes label syntax, no wildcards (Istio's CRD refuses `*`). */
export function checkLabel(key: string, value: string, flag: string): void {
  if (!LABEL_NAME.test(key) || key.split("/").pop()!.length > 63)
    throw new MeshError(
      "INVALID_INPUT",
      `${flag} ${key}=${value}: ${JSON.stringify(key)} is not a label key (e.g. app or app.kubernetes.io/name)`,
    );
  if (value.length > 63 || !LABEL_VALUE.test(value))
    throw new MeshError(
      "INVALID_INPUT",
      `${flag} ${key}=${value}: ${JSON.stringify(value)} is not a label value (≤ 63 of A-Z, a-z, 0-9, '-', '_', '.'; no wildcards)`,
    );
}

/** `k=v` → [k, v], for repeatable label flags. */
export function parseLabelArgument(text: string, flag: string): [string, string] {
  const at = text.indexOf("=");
  if (at <= 0)
    throw new MeshError(
      "INVALID_INPUT",
      `${flag} ${JSON.stringify(text)}: expected key=value, e.g. app=checkout`,
    );
  const key = text.slice(0, at);
  const value = text.slice(at + 1);
  checkLabel(key, value, flag);
  return [key, value];
}
