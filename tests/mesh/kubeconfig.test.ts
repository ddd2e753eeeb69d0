// Reading a kubeconfig as kubectl does, for the parts graft uses (src/mesh/kubernetes/kubeconfig.ts).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import yaml from "js-yaml";
import { defaultKubeconfigPath, loadKubeconfig } from "../../src/mesh/kubernetes/kubeconfig.ts";

function kubeconfig(users: Record<string, unknown>[], extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), "graft-kubeconfig-"));
  writeFileSync(path.join(dir, "ca.crt"), "CA PEM");
  writeFileSync(path.join(dir, "token"), "file-token\n");
  const file = path.join(dir, "config");
  writeFileSync(
    file,
    yaml.dump({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "prod", cluster: { server: "https://prod:6443", "certificate-authority": "ca.crt" } },
        { name: "dev", cluster: { server: "https://dev:6443", "insecure-skip-tls-verify": true } },
      ],
      users,
      contexts: [
        { name: "prod", context: { cluster: "prod", user: users[0]!.name } },
        { name: "dev", context: { cluster: "dev", user: users.at(-1)!.name } },
      ],
      "current-context": "prod",
      ...extra,
    }),
  );
  return file;
}

describe("kubeconfig", () => {
  it("reads the current context: server, CA file relative to the kubeconfig, inline client certificate", () => {
    const file = kubeconfig([
      {
        name: "admin",
        user: {
          "client-certificate-data": Buffer.from("CERT").toString("base64"),
          "client-key-data": Buffer.from("KEY").toString("base64"),
        },
      },
    ]);
    const connection = loadKubeconfig(file);
    assert.equal(connection.server, "https://prod:6443");
    assert.equal(connection.ca?.toString(), "CA PEM");
    assert.equal(connection.cert?.toString(), "CERT");
    assert.equal(connection.key?.toString(), "KEY");
    assert.equal(connection.insecureSkipTlsVerify, false);
    assert.match(connection.source ?? "", /context prod/);
  });

  it("reads a named context with a token file", () => {
    const file = kubeconfig([
      { name: "admin", user: { token: "inline" } },
      { name: "robot", user: { tokenFile: "token" } },
    ]);
    const connection = loadKubeconfig(file, "dev");
    assert.equal(connection.server, "https://dev:6443");
    assert.equal(connection.token, "file-token");
    assert.equal(connection.insecureSkipTlsVerify, true);
  });

  it("refuses credential plugins, unknown contexts and a certificate without its key, naming the fix", () => {
    const plugin = kubeconfig([{ name: "gke", user: { exec: { command: "gke-gcloud-auth-plugin" } } }]);
    assert.throws(
      () => loadKubeconfig(plugin),
      /users\[gke\]: uses a credential plugin .* use a context with a client certificate or a token/,
    );
    assert.throws(
      () => loadKubeconfig(plugin, "staging"),
      /no context named staging \(contexts: prod, dev\)/,
    );
    const halfCert = kubeconfig([
      { name: "admin", user: { "client-certificate-data": Buffer.from("CERT").toString("base64") } },
    ]);
    assert.throws(() => loadKubeconfig(halfCert), /a client certificate needs its key/);
    assert.throws(
      () => loadKubeconfig("/nonexistent/kubeconfig"),
      /cannot read the kubeconfig \(ENOENT\); give --kubeconfig/,
    );
  });

  it("defaults to $KUBECONFIG's first file, else ~/.kube/config", () => {
    assert.equal(defaultKubeconfigPath({ KUBECONFIG: `/a/config${path.delimiter}/b/config` }), "/a/config");
    assert.match(defaultKubeconfigPath({}), /\.kube\/config$/);
  });
});
