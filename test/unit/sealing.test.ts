import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { keyId, makeKeyring, parseKey, seal, unseal } from "../../src/execute/secrets.ts";
import { storable } from "../../src/execute/storable.ts";

describe("sealing execution inputs", () => {
  it("round-trips a value, and the sealed text shows neither the value nor the key", () => {
    const key = randomBytes(32);
    const ring = makeKeyring(key);
    const sealed = seal(ring, { dsn: "postgres://app:pw@db/app" });
    expect(sealed).not.toContain("pw@");
    expect(sealed.split(".")[1]).toBe(keyId(key));
    expect(unseal(ring, sealed)).toEqual({ dsn: "postgres://app:pw@db/app" });
  });

  it("rotation: values sealed with an old key still open when it is listed as old; unknown keys are named", () => {
    const old = randomBytes(32);
    const sealed = seal(makeKeyring(old), { token: "t" });
    expect(unseal(makeKeyring(randomBytes(32), [old]), sealed)).toEqual({ token: "t" });
    expect(() => unseal(makeKeyring(randomBytes(32)), sealed)).toThrow(new RegExp(`sealed with key ${keyId(old)}.*BELAY_SECRET_KEYS_OLD`));
  });

  it("a tampered value does not open", () => {
    const ring = makeKeyring(randomBytes(32));
    const parts = seal(ring, "x").split(".");
    parts[4] = Buffer.from("tampered").toString("base64url");
    expect(() => unseal(ring, parts.join("."))).toThrow();
  });

  it("keys are 32 bytes as hex or base64; anything else is refused saying how to make one", () => {
    const k = randomBytes(32);
    expect(parseKey(k.toString("hex"), "K").equals(k)).toBe(true);
    expect(parseKey(k.toString("base64"), "K").equals(k)).toBe(true);
    expect(() => parseKey("short", "BELAY_SECRET_KEY")).toThrow(/BELAY_SECRET_KEY must be 32 bytes.*openssl rand -base64 32/);
  });
});

describe("storable", () => {
  it("escapes NUL and lone surrogates deterministically, keeps valid pairs, and says so", () => {
    const v = { a: "x\u0000y", b: ["\ud800", "\udc00z", "🚀"], "k\u0000": 1 };
    const once = storable(v);
    expect(once).toEqual({ value: { a: "x\\u0000y", b: ["\\ud800", "\\udc00z", "🚀"], "k\\u0000": 1 }, escaped: true });
    expect(storable(v)).toEqual(once);
    expect(storable({ fine: "🚀 ünï" })).toEqual({ value: { fine: "🚀 ünï" }, escaped: false });
  });
});
