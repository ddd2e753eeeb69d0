// SPDX-License-Identifier: Apache-2.0
/**
 * The smallest tar (POSIX ustar) writer and reader graft needs: one regular file in, regular files
 * out. Written here rather than pulled in as a dependency because the layer must be reproducible
 * (mtime, uid, gid and owner names all zero, so equal modules give equal layer digests) and the
 * reader must refuse anything odd in an image it did not build (links, devices, paths with `..`).
 */

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function writeString(header: Buffer, offset: number, width: number, value: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > width) throw new Error(`tar: ${JSON.stringify(value)} is longer than ${width} bytes`);
  bytes.copy(header, offset);
}

/** A tar archive holding one regular file `name` (mode 0644) with `content`. */
export function tarOneFile(name: string, content: Uint8Array): Buffer {
  const header = Buffer.alloc(BLOCK);
  writeString(header, 0, 100, name);
  writeString(header, 100, 8, octal(0o644, 8));
  writeString(header, 108, 8, octal(0, 8));
  writeString(header, 116, 8, octal(0, 8));
  writeString(header, 124, 12, octal(content.byteLength, 12));
  writeString(header, 136, 12, octal(0, 12));
  header.fill(" ", 148, 156); // the checksum is computed with its own field as spaces
  header[156] = "0".charCodeAt(0);
  writeString(header, 257, 6, "ustar\0");
  writeString(header, 263, 2, "00");
  let sum = 0;
  for (const byte of header) sum += byte;
  writeString(header, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  const padding = (BLOCK - (content.byteLength % BLOCK)) % BLOCK;
  return Buffer.concat([header, Buffer.from(content), Buffer.alloc(padding), Buffer.alloc(2 * BLOCK)]);
}

export interface TarEntry {
  name: string;
  content: Buffer;
}

function readString(block: Buffer, offset: number, width: number): string {
  const raw = block.subarray(offset, offset + width);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? width : end).toString("utf8");
}

function readOctal(block: Buffer, offset: number, width: number): number {
  const text = readString(block, offset, width).trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`tar: bad number field ${JSON.stringify(text)}`);
  return text === "" ? 0 : parseInt(text, 8);
}

/** The regular files of a tar archive. PAX and GNU long-name headers are skipped, not interpreted. */
export function untarFiles(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
    if (sum !== readOctal(header, 148, 8)) throw new Error(`tar: header checksum mismatch at byte ${offset}`);
    const prefix = readString(header, 345, 155);
    const name = (prefix ? `${prefix}/` : "") + readString(header, 0, 100);
    const size = readOctal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 48);
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new Error(`tar: entry ${name} runs past the end of the archive`);
    if (type === "0" || type === "\0") {
      if (name.split("/").includes(".."))
        throw new Error(`tar: entry ${JSON.stringify(name)} climbs out with ..`);
      entries.push({ name, content: Buffer.from(archive.subarray(start, start + size)) });
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}
