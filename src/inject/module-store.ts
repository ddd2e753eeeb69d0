import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { sha256Hex } from "../sign/statement.ts";
import { readFileNoFollow, writeFileAtomic } from "../util/atomic-write.ts";

/**
 * The content-addressed module store: `<dir>/<sha256>.wasm`, one file per build, so Envoy sees a new
 * path per build and every change reloads. A cached file is trusted only after its full sha256 was
 * recomputed: a file of the right size planted under a digest's name would otherwise be served while
 * graft and the audit log name the signed digest.
 */
export function modulePath(moduleDir: string, sha256: string): string {
  return path.join(moduleDir, `${sha256}.wasm`);
}

/** sha256 hex of the stored file, or undefined when it is missing or a symlink. */
export async function storedModuleSha256(moduleDir: string, sha256: string): Promise<string | undefined> {
  try {
    return createHash("sha256")
      .update(await readFileNoFollow(modulePath(moduleDir, sha256)))
      .digest("hex");
  } catch {
    return undefined;
  }
}

/**
 * Stores `module` under its digest unless an identical file (by full sha256) is already there;
 * anything else at that name (another content, a symlink) is replaced atomically.
 * `dirMode` applies only to a directory this call creates.
 */
export async function storeModule(
  moduleDir: string,
  module: Uint8Array,
  dirMode = 0o700,
): Promise<{ path: string; sha256: string; replaced: boolean }> {
  const digest = sha256Hex(module);
  const file = modulePath(moduleDir, digest);
  await mkdir(moduleDir, { recursive: true, mode: dirMode });
  const present = await storedModuleSha256(moduleDir, digest);
  if (present !== digest) await writeFileAtomic(file, module, { mode: 0o644 });
  return { path: file, sha256: digest, replaced: present !== undefined && present !== digest };
}
