// SPDX-License-Identifier: Apache-2.0
/** Option parsing shared by the mesh commands (src/cli/commands/{istio,push,pull,admission,flagger,argo}.ts). */
import { InvalidArgumentError } from "commander";
import { GraftError } from "../sign/errors.ts";
import { MeshError } from "./errors.ts";
import { parseLabelArgument } from "./kubernetes/names.ts";
import type { RegistryCredentials } from "./oci/registry-client.ts";

/** Repeatable `--flag k=v` into a map; a key given twice with different values is refused. */
export function labelCollector(flag: string) {
  return (value: string, previous: Record<string, string> | undefined): Record<string, string> => {
    let key: string;
    let labelValue: string;
    try {
      [key, labelValue] = parseLabelArgument(value, flag);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
    if (previous && Object.hasOwn(previous, key) && previous[key] !== labelValue)
      throw new InvalidArgumentError(
        `${flag}: label ${key} given twice (${previous[key]} and ${labelValue})`,
      );
    return { ...previous, [key]: labelValue };
  };
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function parseInteger(flag: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value))
      throw new InvalidArgumentError(`${flag} wants an integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

export function parseNumber(flag: string) {
  return (value: string): number => {
    const number = Number(value);
    if (value.trim() === "" || !Number.isFinite(number))
      throw new InvalidArgumentError(`${flag} wants a number, got ${JSON.stringify(value)}`);
    return number;
  };
}

export function oneOf<T extends string>(flag: string, allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value))
      throw new InvalidArgumentError(`${flag} must be one of ${allowed.join(", ")}`);
    return value as T;
  };
}

/**
 * Registry credentials from --username/--password, else GRAFT_REGISTRY_USERNAME/GRAFT_REGISTRY_PASSWORD
 * (the environment keeps the password out of shell history and `ps`).
 */
export function registryCredentials(options: {
  username?: string;
  password?: string;
}): RegistryCredentials | undefined {
  const username = options.username ?? process.env.GRAFT_REGISTRY_USERNAME;
  const password = options.password ?? process.env.GRAFT_REGISTRY_PASSWORD;
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined || password === undefined)
    throw new MeshError(
      "INVALID_INPUT",
      "registry credentials need both a username and a password (--username/--password or GRAFT_REGISTRY_USERNAME/GRAFT_REGISTRY_PASSWORD)",
    );
  return { username, password };
}

/** `Gateway/edge` or `gateway.networking.k8s.io/Gateway/edge` → a WasmPlugin targetRef. */
export function parseTargetRef(text: string): { group?: string; kind: string; name: string } {
  const parts = text.split("/");
  if (parts.length === 2 && parts[0] && parts[1]) return { kind: parts[0], name: parts[1] };
  if (parts.length === 3 && parts[1] && parts[2]) return { group: parts[0]!, kind: parts[1], name: parts[2] };
  throw new MeshError(
    "INVALID_INPUT",
    `--target-ref ${JSON.stringify(text)}: write [group/]Kind/name, e.g. gateway.networking.k8s.io/Gateway/edge or Service/checkout`,
  );
}

/**
 * Errors from the filter catalog and configuration check (ContractError, FilterConfigError, unknown
 * filter) as INVALID_INPUT, so the CLI prints them as `error: INVALID_INPUT: …` with their file and field.
 */
export function asGraftError(error: unknown): unknown {
  if (error instanceof GraftError || !(error instanceof Error)) return error;
  return new MeshError("INVALID_INPUT", error.message);
}
