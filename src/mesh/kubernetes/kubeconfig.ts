// SPDX-License-Identifier: Apache-2.0
/**
 * Reads a kubeconfig the way kubectl does for the parts graft needs: the current (or named) context's
 * cluster (server, CA, insecure-skip-tls-verify) and user (client certificate and key, or a bearer
 * token), inline (`-data`) or by file (relative to the kubeconfig). Exec and auth-provider plugins are
 * refused with the fix: graft runs no credential plugins.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { KubernetesError, type KubeConnection } from "./client.ts";

/** $KUBECONFIG's first file, else ~/.kube/config (kubectl merges a list; graft reads the first). */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const first = env.KUBECONFIG?.split(path.delimiter).find((file) => file.length > 0);
  return first ?? path.join(homedir(), ".kube", "config");
}

/** An entry of a kubeconfig's clusters, users or contexts list. */
type Named = Record<string, unknown> & { name?: unknown };

export function loadKubeconfig(file: string, contextName?: string): KubeConnection {
  let doc: unknown;
  try {
    doc = yaml.load(readFileSync(file, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KubernetesError(
      `${file}: cannot read the kubeconfig (${code ?? (error as Error).message}); ` +
        "give --kubeconfig <file>, set $KUBECONFIG, or set engine.kubeconfig in the plan",
    );
  }
  const config = (doc ?? {}) as Record<string, unknown>;
  const where = (field: string) => `${file}: ${field}`;
  const list = (field: string): Named[] => {
    const value = config[field] ?? [];
    if (!Array.isArray(value)) throw new KubernetesError(`${where(field)}: expected a list`);
    return value as Named[];
  };
  const wanted = contextName ?? (config["current-context"] as string | undefined);
  if (typeof wanted !== "string" || wanted.length === 0)
    throw new KubernetesError(`${where("current-context")}: not set; give a context (engine.context)`);
  const context = list("contexts").find((entry) => entry.name === wanted)?.context as
    { cluster?: string; user?: string } | undefined;
  if (!context)
    throw new KubernetesError(
      `${where("contexts")}: no context named ${wanted} (contexts: ${list("contexts")
        .map((entry) => String(entry.name))
        .join(", ")})`,
    );
  const cluster = list("clusters").find((entry) => entry.name === context.cluster)?.cluster as
    Record<string, unknown> | undefined;
  if (!cluster) throw new KubernetesError(`${where("clusters")}: no cluster named ${context.cluster}`);
  const user = (list("users").find((entry) => entry.name === context.user)?.user ?? {}) as Record<
    string,
    unknown
  >;
  if (user.exec !== undefined || user["auth-provider"] !== undefined)
    throw new KubernetesError(
      `${where(`users[${context.user}]`)}: uses a credential plugin (exec/auth-provider), which graft does not run; ` +
        "use a context with a client certificate or a token (e.g. a ServiceAccount token)",
    );
  const base = path.dirname(file);
  const bytes = (entry: Record<string, unknown>, dataKey: string, fileKey: string): Buffer | undefined => {
    const data = entry[dataKey];
    if (typeof data === "string") return Buffer.from(data, "base64");
    const named = entry[fileKey];
    if (typeof named !== "string") return undefined;
    const full = path.resolve(base, named);
    try {
      return readFileSync(full);
    } catch (error) {
      throw new KubernetesError(
        `${where(fileKey)}: cannot read ${full} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  };
  if (typeof cluster.server !== "string" || !/^https:\/\//.test(cluster.server))
    throw new KubernetesError(
      `${where(`clusters[${context.cluster}].server`)}: expected the API server's https:// URL`,
    );
  const token =
    typeof user.token === "string"
      ? user.token
      : typeof user.tokenFile === "string"
        ? readFileSync(path.resolve(base, user.tokenFile), "utf8").trim()
        : undefined;
  const connection: KubeConnection = {
    server: cluster.server,
    source: `kubeconfig ${file}, context ${wanted}`,
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
  };
  const ca = bytes(cluster, "certificate-authority-data", "certificate-authority");
  const cert = bytes(user, "client-certificate-data", "client-certificate");
  const key = bytes(user, "client-key-data", "client-key");
  if ((cert === undefined) !== (key === undefined))
    throw new KubernetesError(
      `${where(`users[${context.user}]`)}: a client certificate needs its key, and a key its certificate`,
    );
  if (ca) connection.ca = ca;
  if (cert && key) {
    connection.cert = cert;
    connection.key = key;
  }
  if (token !== undefined) connection.token = token;
  return connection;
}
