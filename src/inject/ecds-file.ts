import { readFile } from "node:fs/promises";
import yaml from "js-yaml";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { NOOP_FILTER_CONFIG, slotFilePath, TYPED_EXTENSION_CONFIG_TYPE_URL } from "./slot.ts";

/** The content of a slot file: an ECDS DiscoveryResponse with one TypedExtensionConfig. */
export interface SlotResource {
  version: string;
  typedConfig: Record<string, unknown>;
}

export function renderSlotFile(slot: string, resource: SlotResource): string {
  return yaml.dump(
    {
      version_info: resource.version,
      resources: [
        { "@type": TYPED_EXTENSION_CONFIG_TYPE_URL, name: slot, typed_config: resource.typedConfig },
      ],
    },
    { noRefs: true, lineWidth: -1 },
  );
}

/**
 * Replaces the slot file atomically: Envoy watches for a file moved into place, and a reader must
 * never see half a file. The temporary file sits in the same directory so rename(2) is atomic.
 */
export async function writeSlotFile(ecdsDir: string, slot: string, resource: SlotResource): Promise<void> {
  await writeFileAtomic(slotFilePath(ecdsDir, slot), renderSlotFile(slot, resource), {
    mode: 0o644,
    createDirMode: 0o755,
  });
}

export async function readSlotFile(ecdsDir: string, slot: string): Promise<SlotResource | undefined> {
  let text: string;
  try {
    text = await readFile(slotFilePath(ecdsDir, slot), "utf8");
  } catch {
    return undefined;
  }
  const doc = yaml.load(text) as {
    version_info?: string;
    resources?: { typed_config?: Record<string, unknown> }[];
  };
  const typedConfig = doc.resources?.[0]?.typed_config;
  if (!doc.version_info || !typedConfig) return undefined;
  return { version: doc.version_info, typedConfig };
}

/**
 * Creates the slot file with the no-op filter when it does not exist yet: Envoy requires the path
 * of a path config source to exist when the listener loads.
 */
export async function ensureSlotFile(ecdsDir: string, slot: string): Promise<void> {
  if (await readSlotFile(ecdsDir, slot)) return;
  await writeSlotFile(ecdsDir, slot, { version: "empty#0", typedConfig: NOOP_FILTER_CONFIG });
}
