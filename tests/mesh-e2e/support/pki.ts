// SPDX-License-Identifier: Apache-2.0
/**
 * The throwaway PKI of one suite run, made with the openssl CLI in the run's temp dir: a CA; the API
 * server's serving certificate; an admin client certificate in group system:masters (the suite and istiod
 * both use it); the service-account signing key pair; the admission webhook's serving certificate; the
 * app's SPIFFE workload certificate (for pilot-agent, which then needs no CA). EC P-256
 * keys (fast to make), one day of validity, and an explicit openssl config so the host's openssl.cnf
 * cannot add extensions (such as CA:TRUE on a leaf).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface CertificatePair {
  cert: string;
  key: string;
}

export interface MeshPki {
  dir: string;
  caCert: string;
  caKey: string;
  apiServer: CertificatePair;
  admin: CertificatePair;
  webhook: CertificatePair;
  workload: CertificatePair;
  serviceAccountPublic: string;
  serviceAccountPrivate: string;
}

const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = @server_names
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[workload]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = URI:spiffe://cluster.local/ns/default/sa/default
[server_names]
IP.1 = 127.0.0.1
IP.2 = 10.96.0.1
DNS.1 = localhost
DNS.2 = kubernetes
DNS.3 = kubernetes.default
DNS.4 = kubernetes.default.svc
DNS.5 = kubernetes.default.svc.cluster.local
`;

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
}

function leaf(
  dir: string,
  name: string,
  subject: string,
  section: "server" | "client" | "workload",
): CertificatePair {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  openssl(dir, [
    "req",
    "-config",
    "openssl.cnf",
    "-x509",
    ...EC_KEY,
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    subject,
    "-days",
    "1",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-extensions",
    section,
  ]);
  return { cert, key };
}

/** Makes every key and certificate the run needs under `dir` (about 0.1 s). */
export function createMeshPki(dir: string): MeshPki {
  writeFileSync(path.join(dir, "openssl.cnf"), OPENSSL_CONFIG);
  openssl(dir, [
    "req",
    "-config",
    "openssl.cnf",
    "-x509",
    ...EC_KEY,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-subj",
    "/CN=graft-mesh-e2e-ca",
    "-days",
    "1",
    "-extensions",
    "ca",
  ]);
  const apiServer = leaf(dir, "apiserver", "/CN=kube-apiserver", "server");
  const admin = leaf(dir, "admin", "/O=system:masters/CN=graft-mesh-e2e-admin", "client");
  const webhook = leaf(dir, "webhook", "/CN=graft-admission", "server");
  const workload = leaf(dir, "workload", "/O=cluster.local", "workload");
  openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "sa.key"]);
  openssl(dir, ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  return {
    dir,
    caCert: path.join(dir, "ca.crt"),
    caKey: path.join(dir, "ca.key"),
    apiServer,
    admin,
    webhook,
    workload,
    serviceAccountPublic: path.join(dir, "sa.pub"),
    serviceAccountPrivate: path.join(dir, "sa.key"),
  };
}

/** A kubeconfig (for istiod) with the CA and the admin certificate inline. */
export function writeKubeconfig(pki: MeshPki, server: string, file: string): void {
  const base64 = (file: string) => readFileSync(file).toString("base64");
  const kubeconfig = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "e2e", cluster: { server, "certificate-authority-data": base64(pki.caCert) } }],
    users: [
      {
        name: "admin",
        user: { "client-certificate-data": base64(pki.admin.cert), "client-key-data": base64(pki.admin.key) },
      },
    ],
    contexts: [{ name: "e2e", context: { cluster: "e2e", user: "admin" } }],
    "current-context": "e2e",
  };
  // JSON is YAML: client-go reads it as is.
  writeFileSync(file, JSON.stringify(kubeconfig, null, 2));
}
