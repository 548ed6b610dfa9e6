import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../src/audit/canonical.ts";
import { redact, redactText } from "../../src/audit/redact.ts";
import { hashEvent } from "../../src/audit/chain.ts";

describe("canonical JSON", () => {
  it("sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"x":2,"y":1}]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });
  it("writes dates as ISO strings and non-finite numbers as null", () => {
    expect(canonicalJson({ at: new Date("2026-11-22T03:00:00Z"), n: Number.NaN })).toBe('{"at":"2026-11-22T03:00:00.000Z","n":null}');
  });
  it("hashes an event over the previous hash and its content", () => {
    const e = { id: "evt_1", at: "2026-11-22T03:00:00.000Z", kind: "run.proposed", actor: "alice", surface: "cli", runId: "run_1", incidentId: null, step: null, data: { x: 1 } };
    const h = hashEvent("0".repeat(64), e);
    expect(h).toBe(sha256Hex(`${"0".repeat(64)}\n{"actor":"alice","at":"2026-11-22T03:00:00.000Z","data":{"x":1},"id":"evt_1","incident":null,"kind":"run.proposed","run":"run_1","step":null,"surface":"cli"}`));
    expect(hashEvent("1".repeat(64), e)).not.toBe(h);
  });
});

describe("redaction", () => {
  it("removes passwords from connection strings and URLs, keeping the rest readable", () => {
    expect(redactText("postgres://app:s3cr3t@db.internal:5432/main")).toBe("postgres://app:[redacted]@db.internal:5432/main");
    expect(redactText("redis://:hunter2@cache:6379/0")).toBe("redis://:[redacted]@cache:6379/0");
    expect(redactText("host=db user=app password=s3cr3t dbname=main")).toBe("host=db user=app password=[redacted] dbname=main");
  });
  it("removes tokens wherever they appear", () => {
    expect(redactText("token xoxb-123456789012-abcdefABCDEF used")).toBe("token [redacted] used");
    expect(redactText("Authorization: Bearer abcdef0123456789")).toBe("Authorization: Bearer [redacted]");
    expect(redactText("key AKIAABCDEFGHIJKLMNOP")).toBe("key [redacted]");
  });
  it("replaces values under secret-looking keys and under keys marked secret", () => {
    expect(redact({ password: "x", apiKey: "y", user: "u", nested: { accessToken: "t", list: [{ secret: "s" }] }, pin: "1234" }, new Set(["pin"]))).toEqual({
      password: "[redacted]",
      apiKey: "[redacted]",
      user: "u",
      nested: { accessToken: "[redacted]", list: [{ secret: "[redacted]" }] },
      pin: "[redacted]",
    });
  });
  it("does not change what has no secret in it", () => {
    const v = { name: "api", replicas: 3, ok: true, note: "password policy changed", at: null };
    expect(redact(v)).toEqual(v);
  });
});
