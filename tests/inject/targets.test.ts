// Targets files and selection: what `--targets`, `--select` and `--percent` pick, and the errors
// an operator sees for a wrong file.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { loadTargetsFile, selectTargets, type Target } from "../../src/inject/target.ts";

const target = (name: string, labels: Record<string, string>): Target => ({
  name,
  adminUrl: "http://127.0.0.1:1",
  ecdsDir: "/x",
  moduleDir: "/m",
  labels,
  slots: ["s"],
});
const fleet = [
  target("pay-3", { tier: "payments", role: "stable" }),
  target("pay-1", { tier: "payments", role: "canary" }),
  target("pay-2", { tier: "payments", role: "stable" }),
  target("web-1", { tier: "web", role: "stable" }),
];

async function withFile(text: string, check: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "graft-targets-"));
  try {
    const file = path.join(dir, "targets.yaml");
    await writeFile(file, text);
    await check(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("target selection", () => {
  it("selects by label equality and inequality, in name order", () => {
    assert.deepEqual(
      selectTargets(fleet, "tier=payments,role!=canary").map((t) => t.name),
      ["pay-2", "pay-3"],
    );
    assert.deepEqual(
      selectTargets(fleet).map((t) => t.name),
      ["pay-1", "pay-2", "pay-3", "web-1"],
    );
  });

  it("takes a stable percentage, at least one target", () => {
    assert.deepEqual(
      selectTargets(fleet, "tier=payments", 50).map((t) => t.name),
      ["pay-1", "pay-2"],
    );
    assert.deepEqual(
      selectTargets(fleet, "tier=payments", 1).map((t) => t.name),
      ["pay-1"],
    );
    assert.throws(() => selectTargets(fleet, undefined, 0), /--percent 0: expected a number in \(0, 100\]/);
  });

  it("explains a selector it cannot read", () => {
    assert.throws(
      () => selectTargets(fleet, "tier"),
      /selector "tier": cannot read "tier"; write key=value or key!=value/,
    );
  });
});

describe("targets files", () => {
  it("reads targets, resolving relative directories against the file", async () => {
    await withFile(
      "targets:\n  - name: a\n    admin: http://127.0.0.1:9901\n    ecdsDir: ecds/a\n    slots: [graft-slot-0]\n    labels: { tier: web }\n",
      async (file) => {
        const [a] = await loadTargetsFile(file);
        assert.equal(a!.ecdsDir, path.join(path.dirname(file), "ecds", "a"));
        assert.equal(a!.moduleDir, path.join(path.dirname(file), "ecds", "a", "modules"));
        assert.deepEqual(a!.labels, { tier: "web" });
      },
    );
  });

  for (const [name, text, message] of [
    ["no targets", "targets: []\n", /"targets" must be a non-empty list/],
    [
      "a missing admin URL",
      "targets:\n  - name: a\n    ecdsDir: e\n    slots: [s]\n",
      /targets\[0\]\.admin: expected a non-empty string/,
    ],
    [
      "an admin address without scheme",
      "targets:\n  - name: a\n    admin: 127.0.0.1:9901\n    ecdsDir: e\n    slots: [s]\n",
      /targets\[0\]\.admin: expected an http\(s\) URL/,
    ],
    [
      "a duplicate name",
      "targets:\n  - { name: a, admin: 'http://x', ecdsDir: e, slots: [s] }\n  - { name: a, admin: 'http://x', ecdsDir: e, slots: [s] }\n",
      /targets\[1\]\.name: "a" appears twice/,
    ],
    [
      "a bad slot name",
      "targets:\n  - { name: a, admin: 'http://x', ecdsDir: e, slots: ['a b'] }\n",
      /targets\[0\]\.slots: expected a list of slot names/,
    ],
    [
      "non-string labels",
      "targets:\n  - { name: a, admin: 'http://x', ecdsDir: e, slots: [s], labels: { tier: 3 } }\n",
      /targets\[0\]\.labels: expected a map of string labels/,
    ],
  ] as const) {
    it(`names the file and field for ${name}`, async () => {
      await withFile(text, async (file) => {
        await assert.rejects(
          loadTargetsFile(file),
          (error: Error) => error.message.startsWith(file) && message.test(error.message),
        );
      });
    });
  }
});

describe("targets files: unknown fields and agents", () => {
  it("refuses an unknown field such as a misspelt labels (lables:)", async () => {
    await withFile(
      "targets:\n  - name: a\n    admin: http://127.0.0.1:9901\n    ecdsDir: e\n    slots: [s]\n    lables: { tier: web }\n",
      async (file) => {
        await assert.rejects(loadTargetsFile(file), /targets\[0\]\.lables: unknown field/);
      },
    );
  });

  it("reads an agent target with a pinned public key, and refuses a private key in its place", async () => {
    const { generateKeyPair } = await import("../../src/sign/keys.ts");
    const pair = generateKeyPair();
    const indent = (pem: string) => pem.trim().split("\n").join("\n        ");
    await withFile(
      `targets:\n  - name: a\n    agent:\n      url: http://10.0.0.2:7070\n      publicKey: |\n        ${indent(pair.publicKeyPem)}\n    slots: [s]\n`,
      async (file) => {
        const [a] = await loadTargetsFile(file);
        assert.equal(a!.agent?.keyId, pair.keyId);
        assert.equal(a!.agent?.url, "http://10.0.0.2:7070");
      },
    );
    await withFile(
      `targets:\n  - name: a\n    agent:\n      url: http://10.0.0.2:7070\n      publicKey: |\n        ${indent(pair.privateKeyPem)}\n    slots: [s]\n`,
      async (file) => {
        await assert.rejects(loadTargetsFile(file), /holds a private key/);
      },
    );
  });
});

describe("file mode", () => {
  it("says on every run that nothing enforces it", async () => {
    const { chooseTargets, FILE_MODE_WARNING } = await import("../../src/cli/fleet-options.ts");
    await withFile(
      "targets:\n  - { name: a, admin: 'http://127.0.0.1:9', ecdsDir: e, slots: [s] }\n",
      async (file) => {
        const said: string[] = [];
        const original = console.error;
        console.error = (line: string) => said.push(line);
        try {
          await chooseTargets({ targets: file, auditLog: "" });
        } finally {
          console.error = original;
        }
        assert.deepEqual(said, [FILE_MODE_WARNING]);
        assert.match(FILE_MODE_WARNING, /nothing enforces/);
      },
    );
  });
});
