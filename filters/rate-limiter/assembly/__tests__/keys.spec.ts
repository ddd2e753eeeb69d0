import {
  MISSING_FINGERPRINT,
  addressFingerprint,
  fingerprint,
  headerFingerprint,
  homeSlot,
  pathFingerprint,
  pathPrefix,
  pathWithoutQuery,
  slotKeyPrefix,
  stripPort,
} from "../keys";

describe("rate-limiter keys", () => {
  test("FNV-1a 64 of known strings", () => {
    expect(fingerprint("a")).toBe(0xaf63dc4c8601ec8c);
    expect(fingerprint("")).toBe(0xcbf29ce484222325);
    expect(fingerprint("h:alice") != fingerprint("h:bob")).toBe(true);
  });

  test("home slots fall inside the slot count and spread keys", () => {
    const slots = 64;
    const used = new Set<i32>();
    for (let i = 0; i < 64; i++) {
      const slot = homeSlot(fingerprint("a:10.0.0." + i.toString()), slots);
      expect(slot >= 0 && slot < slots).toBe(true);
      used.add(slot);
    }
    // 64 keys into 64 slots: about 64 × (1 − 1/e) ≈ 40 distinct slots expected.
    expect(used.size > 30).toBe(true, used.size.toString());
    expect(homeSlot(12345, 1)).toBe(0);
  });

  test("slot keys carry the injection and the rule", () => {
    expect(slotKeyPrefix("inj-1", "per-key")).toBe("graft.rl/inj-1/per-key/");
  });

  test("the port is stripped from IPv4 and IPv6 addresses", () => {
    expect(stripPort("127.0.0.1:54321")).toBe("127.0.0.1");
    expect(stripPort("[::1]:8080")).toBe("::1");
    expect(stripPort("[2001:db8::7]:1")).toBe("2001:db8::7");
    expect(stripPort("10.1.2.3")).toBe("10.1.2.3");
    expect(stripPort("2001:db8::7")).toBe("2001:db8::7");
  });

  test("path keys: the whole path or its first segments, without the query", () => {
    expect(pathWithoutQuery("/a/b?x=1")).toBe("/a/b");
    expect(pathPrefix("/api/users/7?x=1", 1)).toBe("/api");
    expect(pathPrefix("/api/users/7?x=1", 2)).toBe("/api/users");
    expect(pathPrefix("/api/users/7", 5)).toBe("/api/users/7");
    expect(pathPrefix("/api", 2)).toBe("/api");
    expect(pathPrefix("/", 1)).toBe("/");
  });

  test("key fingerprints hash the key text without building it", () => {
    const addresses = [
      "127.0.0.1:54321",
      "[::1]:8080",
      "[2001:db8::7]:1",
      "10.1.2.3",
      "2001:db8::7",
      "[broken",
      "",
    ];
    for (let i = 0; i < addresses.length; i++) {
      const address = addresses[i];
      expect(addressFingerprint(String.UTF8.encode(address))).toBe(
        fingerprint("a:" + stripPort(address)),
        address,
      );
    }
    const paths = ["/api/users/7?x=1", "/api", "/", "/a?x=/b/c", "/api/", "", "/a/b/c/d/e"];
    for (let i = 0; i < paths.length; i++) {
      for (let segments = 0; segments < 4; segments++) {
        const expected = segments == 0 ? pathWithoutQuery(paths[i]) : pathPrefix(paths[i], segments);
        expect(pathFingerprint(paths[i], segments)).toBe(
          fingerprint("p:" + expected),
          paths[i] + " " + segments.toString(),
        );
      }
    }
    expect(headerFingerprint("alice")).toBe(fingerprint("h:alice"));
    expect(headerFingerprint("")).toBe(fingerprint("h:"));
    expect(MISSING_FINGERPRINT).toBe(fingerprint("-"));
  });
});
