// The configuration the payload-validator's as-pect tests run with, read as Envoy would pass it.
import { ConfigReader } from "../../../../assembly/config";
import { PayloadConfig, parseConfig } from "../settings";

/** The configuration `json` reads as; the test fails if it is refused. */
export function configOf(json: string): PayloadConfig {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode(json)))!;
  const config = parseConfig(reader, root);
  expect(reader.ok()).toBe(true, reader.ok() ? "" : reader.error!.toString());
  return config;
}
