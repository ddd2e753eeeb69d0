import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, lstat, mkdir, open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { GraftError } from "./errors.ts";

/**
 * The one way graft replaces a file: write a temporary file in the same directory, fsync it, then
 * rename(2) it over the destination. Readers (Envoy watching a slot file, another graft reading a
 * history) see the old file or the new one, never half of one.
 *
 * The temporary file is created with O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name: a
 * symlink planted where a predictable temporary name would be (`<file>.<pid>.tmp`) can neither be
 * followed nor pre-created, so a root process writing into a directory others can write to never
 * overwrites a file it did not mean to. rename(2) replaces a symlink at the destination itself, it
 * does not follow it.
 */
export interface AtomicWriteOptions {
  /** Mode of the new file (default 0o644). */
  mode?: number;
  /** Create the parent directory when missing, with this mode (default: do not create). */
  createDirMode?: number;
}

const CREATE_FLAGS = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;

export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = path.dirname(file);
  if (options.createDirMode !== undefined) await mkdir(dir, { recursive: true, mode: options.createDirMode });
  const temporary = path.join(dir, `.${path.basename(file)}.${randomBytes(12).toString("hex")}.tmp`);
  const handle = await open(temporary, CREATE_FLAGS, options.mode ?? 0o644);
  try {
    try {
      await handle.writeFile(data);
      // The mode given to open() is filtered by the umask; the caller asked for this one.
      await handle.chmod(options.mode ?? 0o644);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/**
 * Creates a file only if nothing (not even a dangling symlink) is at its path: O_EXCL|O_NOFOLLOW.
 * Returns false when the file already exists.
 */
export async function createFileExclusive(
  file: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, CREATE_FLAGS, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/** Reads a file without following a symlink at its last path component (ELOOP if it is one). */
export async function readFileNoFollow(file: string): Promise<Buffer> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export class UnsafeDirectoryError extends GraftError<"UNSAFE_PATH"> {
  constructor(message: string) {
    super("UNSAFE_PATH", message);
  }
}

/**
 * Makes `dir` a real directory (not a symlink) with exactly `mode`, creating it (and its parents)
 * when missing. Refuses a symlink: a store or state directory redirected elsewhere would have graft
 * write where someone else chose.
 */
export async function ensurePrivateDir(dir: string, mode = 0o700): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  const info = await lstat(dir);
  if (info.isSymbolicLink() || !info.isDirectory()) {
    throw new UnsafeDirectoryError(
      `${dir}: expected a directory, found ${info.isSymbolicLink() ? "a symlink" : "a file"}; remove it and let graft create the directory`,
    );
  }
  if (typeof process.getuid === "function" && info.uid !== process.getuid()) {
    throw new UnsafeDirectoryError(
      `${dir}: owned by uid ${info.uid}, not by this process (uid ${process.getuid()}); give it to the graft user or choose another directory`,
    );
  }
  if ((info.mode & 0o7777) !== mode) await chmod(dir, mode);
}
