// SPDX-License-Identifier: Apache-2.0
import { readFile } from "node:fs/promises";
import path from "node:path";
import yaml from "js-yaml";
import { GraftError } from "./errors.ts";
import { writeFileAtomic as atomicWrite } from "../util/atomic-write.ts";

/** File input and output for the signing commands, with errors that name the file and the flag. */
export class GraftFileError extends GraftError<"FILE_ERROR"> {
  constructor(message: string, options?: { cause?: unknown }) {
    super("FILE_ERROR", message, options);
  }
}

/** Reads a file; `what` names it in errors (for example "--envelope"). */
export async function readInputFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new GraftFileError(
      `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      { cause: error },
    );
  }
}

export async function readJsonFile(file: string, what: string): Promise<unknown> {
  const text = (await readInputFile(file, what)).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new GraftFileError(`${what} ${file} is not JSON (${(error as Error).message})`, { cause: error });
  }
}

/**
 * A filter configuration from `.json` (JSON) or `.yaml`/`.yml` (YAML, core schema: no implicit dates or
 * binary, so the value is plain JSON and hashes the same as its JSON twin). Other extensions are read as
 * JSON first, then YAML.
 */
export async function loadConfigurationFile(file: string, what = "--config"): Promise<unknown> {
  const text = (await readInputFile(file, what)).toString("utf8");
  const extension = path.extname(file).toLowerCase();
  const asJson = () => JSON.parse(text) as unknown;
  const asYaml = () => yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: file });
  try {
    if (extension === ".json") return asJson();
    if (extension === ".yaml" || extension === ".yml") return asYaml();
    try {
      return asJson();
    } catch {
      return asYaml();
    }
  } catch (error) {
    throw new GraftFileError(
      `${what} ${file} is not valid ${extension === ".json" ? "JSON" : "JSON or YAML"} (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
}

/** Writes through a temporary file and a rename, so readers never see half a file. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  try {
    await atomicWrite(file, text);
  } catch (error) {
    throw new GraftFileError(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`, {
      cause: error,
    });
  }
}
