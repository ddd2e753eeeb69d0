// The module store and the slot history are written by a process that may run as root, in
// directories others may write to: no write may follow a planted symlink, and a cached module is
// trusted only by its full sha256, never by its size.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstat, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { writeHistory } from "../../src/inject/history.ts";
import { storeModule } from "../../src/inject/module-store.ts";
import { storeModule as storeModuleCompat } from "../../src/inject/slot-ops.ts";
import { writeSlotFile } from "../../src/inject/ecds-file.ts";
import { ensurePrivateDir, writeFileAtomic } from "../../src/util/atomic-write.ts";
import { withTempDir } from "../sign/helpers.ts";

const module = Buffer.from("\0asm\x01\0\0\0signed module bytes");
const digest = createHash("sha256").update(module).digest("hex");

describe("writes never follow a planted symlink", () => {
  it("storeModule: a symlink at the old predictable temporary name leaves its victim untouched", async () => {
    await withTempDir(async (dir) => {
      const store = path.join(dir, "store");
      const victim = path.join(dir, "victim");
      await mkdir(store);
      await writeFile(victim, "precious");
      // The name the store used to write through: `<sha>.wasm.<pid>.tmp`.
      await symlink(victim, path.join(store, `${digest}.wasm.${process.pid}.tmp`));
      await storeModuleCompat(store, module);
      assert.equal(await readFile(victim, "utf8"), "precious");
      assert.deepEqual(await readFile(path.join(store, `${digest}.wasm`)), module);
    });
  });

  it("writeHistory: a symlink at the old predictable temporary name leaves its victim untouched", async () => {
    await withTempDir(async (dir) => {
      const victim = path.join(dir, "victim");
      await writeFile(victim, "precious");
      await mkdir(path.join(dir, "ecds", ".graft"), { recursive: true });
      await symlink(victim, path.join(dir, "ecds", ".graft", `graft-slot-0.json.${process.pid}.tmp`));
      await writeHistory(path.join(dir, "ecds"), "graft-slot-0", { seq: 1, stack: [] });
      assert.equal(await readFile(victim, "utf8"), "precious");
    });
  });

  it("a symlink at the destination itself is replaced, not written through", async () => {
    await withTempDir(async (dir) => {
      const victim = path.join(dir, "victim");
      await writeFile(victim, "precious");
      await mkdir(path.join(dir, "ecds"));
      await symlink(victim, path.join(dir, "ecds", "graft-slot-0.yaml"));
      await writeSlotFile(path.join(dir, "ecds"), "graft-slot-0", { version: "v#1", typedConfig: { a: 1 } });
      assert.equal(await readFile(victim, "utf8"), "precious");
      assert.equal((await lstat(path.join(dir, "ecds", "graft-slot-0.yaml"))).isSymbolicLink(), false);
      await symlink(victim, path.join(dir, "module.wasm"));
      await writeFileAtomic(path.join(dir, "module.wasm"), "new");
      assert.equal(await readFile(victim, "utf8"), "precious");
    });
  });

  it("ensurePrivateDir refuses a store directory that is a symlink, and makes a real one 0700", async () => {
    await withTempDir(async (dir) => {
      await mkdir(path.join(dir, "elsewhere"));
      await symlink(path.join(dir, "elsewhere"), path.join(dir, "store"));
      await assert.rejects(
        ensurePrivateDir(path.join(dir, "store")),
        /expected a directory, found a symlink/,
      );
      await ensurePrivateDir(path.join(dir, "private"));
      assert.equal((await lstat(path.join(dir, "private"))).mode & 0o777, 0o700);
    });
  });
});

describe("the module store checks content, not size", () => {
  it("replaces a same-size file planted under the digest's name", async () => {
    await withTempDir(async (dir) => {
      await mkdir(path.join(dir, "store"));
      const planted = Buffer.alloc(module.length, 0x41);
      await writeFile(path.join(dir, "store", `${digest}.wasm`), planted);
      const stored = await storeModule(path.join(dir, "store"), module);
      assert.equal(stored.replaced, true);
      assert.deepEqual(await readFile(stored.path), module);
      assert.equal((await storeModule(path.join(dir, "store"), module)).replaced, false);
    });
  });

  it("creates a missing store directory 0700", async () => {
    await withTempDir(async (dir) => {
      await storeModule(path.join(dir, "new-store"), module);
      assert.equal((await lstat(path.join(dir, "new-store"))).mode & 0o777, 0o700);
    });
  });
});
