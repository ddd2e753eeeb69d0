// SPDX-License-Identifier: Apache-2.0
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { GraftSignError } from "./errors.ts";

/**
 * Ed25519 keys for signing injection artifacts.
 *
 * Key id: `sha256:` followed by the full lowercase hex sha256 of the public key's SubjectPublicKeyInfo
 * DER (44 bytes for Ed25519). It is never shortened: the id is what a trust policy and a revocation list
 * name, so a prefix collision would let one key stand in for another. Display code may shorten it.
 */
export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
  keyId: string;
}

/** A private key ready to sign, with its public half and id. */
export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A public key ready to verify, with its id. */
export interface VerifyingKey {
  keyId: string;
  publicKey: KeyObject;
}

export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** `sha256:<hex of SPKI DER>` for a public key (KeyObject or PEM text). */
export function keyIdOf(publicKey: KeyObject | string): string {
  const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  const der = key.export({ type: "spki", format: "der" });
  return `sha256:${createHash("sha256").update(der).digest("hex")}`;
}

/** Parses a PEM private key (PKCS#8); refuses anything but Ed25519. `source` names it in errors. */
export function signingKeyFromPem(pem: string, source = "private key"): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new GraftSignError(
      "INVALID_KEY",
      `${source} is not a PEM private key (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new GraftSignError(
      "INVALID_KEY",
      `${source} is a ${privateKey.asymmetricKeyType} key; graft signs with ed25519`,
    );
  }
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

/** Parses a PEM public key (SPKI); refuses anything but Ed25519. `source` names it in errors. */
export function verifyingKeyFromPem(pem: string, source = "public key"): VerifyingKey {
  // createPublicKey() accepts a private key and derives its public half: a private key pasted or
  // copied where a public one belongs would work silently while the secret sits in a shared file.
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem)) {
    throw new GraftSignError(
      "INVALID_KEY",
      `${source} holds a private key; give the public key (.pub.pem) and keep the private one secret`,
    );
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch (error) {
    throw new GraftSignError(
      "INVALID_KEY",
      `${source} is not a PEM public key (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  if (publicKey.type !== "public") {
    throw new GraftSignError("INVALID_KEY", `${source} holds a private key; give the public key (.pub.pem)`);
  }
  if (publicKey.asymmetricKeyType !== "ed25519") {
    throw new GraftSignError(
      "INVALID_KEY",
      `${source} is a ${publicKey.asymmetricKeyType} key; graft verifies ed25519`,
    );
  }
  return { keyId: keyIdOf(publicKey), publicKey };
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  return signingKeyFromPem(await readKeyFile(file), file);
}

export async function loadVerifyingKey(file: string): Promise<VerifyingKey> {
  return verifyingKeyFromPem(await readKeyFile(file), file);
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new GraftSignError(
      "FILE_ERROR",
      `cannot read key ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      {
        cause: error,
      },
    );
  }
}

export interface SavedKeyPair {
  keyId: string;
  privateKeyPath: string;
  publicKeyPath: string;
}

/**
 * Writes `<name>.key.pem` (mode 0600) and `<name>.pub.pem` into `dir`, creating `dir`.
 * Refuses to overwrite either file: replacing a signing key is a rotation, not a side effect.
 */
export async function saveKeyPair(pair: KeyPairPem, dir: string, name: string): Promise<SavedKeyPair> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new GraftSignError("FILE_ERROR", `key name "${name}" must be letters, digits, '.', '_' or '-'`);
  }
  await mkdir(dir, { recursive: true });
  const privateKeyPath = path.join(dir, `${name}.key.pem`);
  const publicKeyPath = path.join(dir, `${name}.pub.pem`);
  for (const file of [privateKeyPath, publicKeyPath]) {
    if (await exists(file)) {
      throw new GraftSignError("FILE_ERROR", `cannot write ${file}: EEXIST; choose another --name or --out`);
    }
  }
  for (const [file, text, mode] of [
    [privateKeyPath, pair.privateKeyPem, 0o600],
    [publicKeyPath, pair.publicKeyPem, 0o644],
  ] as const) {
    try {
      await writeFile(file, text, { flag: "wx", mode });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const hint = code === "EEXIST" ? "; choose another --name or --out" : "";
      throw new GraftSignError("FILE_ERROR", `cannot write ${file}: ${code ?? error}${hint}`, {
        cause: error,
      });
    }
  }
  return { keyId: pair.keyId, privateKeyPath, publicKeyPath };
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
