// SPDX-License-Identifier: Apache-2.0
import yaml from "js-yaml";

/** Kubernetes objects as one multi-document YAML stream (what `kubectl apply -f -` reads). */
export function toYamlDocuments(documents: readonly unknown[]): string {
  return documents
    .map((document) => yaml.dump(document, { noRefs: true, lineWidth: -1, sortKeys: false }))
    .join("---\n");
}

/** Reads every document of a YAML stream (empty documents dropped). */
export function fromYamlDocuments(text: string, filename: string): unknown[] {
  return yaml
    .loadAll(text, undefined, { filename })
    .filter((document) => document !== null && document !== undefined);
}
