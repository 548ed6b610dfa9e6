import { describe, expect, it } from "vitest";
import { redactText } from "../../src/audit/redact.ts";
import { loadConfig } from "../../src/config.ts";

const OIDC = {
  BELAY_OIDC_ISSUER: "https://idp.example.com",
  BELAY_OIDC_CLIENT_ID: "belay",
  BELAY_OIDC_CLIENT_SECRET: "s3cret-value",
  BELAY_PUBLIC_URL: "https://belay.example.com",
};
const KEY = "k".repeat(32);

const refusal = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the config was accepted");
};

describe("console sign-in settings", () => {
  it("without any OIDC variable the console is read-only, sessions 8 hours", () => {
    const c = loadConfig({});
    expect(c.console).toEqual({ publicOrigin: null, oidc: null, sessionKey: null, sessionHours: 8 });
  });

  it("takes all four OIDC variables, the session key and hours", () => {
    const c = loadConfig({ ...OIDC, BELAY_CONSOLE_SESSION_KEY: KEY, BELAY_CONSOLE_SESSION_HOURS: "12" });
    expect(c.console.oidc).toEqual({ issuer: "https://idp.example.com", clientId: "belay", clientSecret: "s3cret-value" });
    expect(c.console.publicOrigin).toBe("https://belay.example.com");
    expect(c.console.sessionKey?.toString()).toBe(KEY);
    expect(c.console.sessionHours).toBe(12);
  });

  it.each(Object.keys(OIDC))("refuses OIDC without %s, in one line naming it, and the message survives redaction", (name) => {
    const env: Record<string, string> = { ...OIDC };
    delete env[name];
    const msg = refusal(env);
    expect(msg.split("\n")).toHaveLength(1);
    expect(msg).toMatch(new RegExp(`^${name} is required when BELAY_OIDC_\\w+ is set`));
    expect(redactText(msg)).toBe(msg);
    expect(msg).not.toContain("s3cret-value");
  });

  it("refuses a lone client secret, naming the issuer as missing", () => {
    expect(refusal({ BELAY_OIDC_CLIENT_SECRET: "x" })).toMatch(/^BELAY_OIDC_ISSUER is required when BELAY_OIDC_CLIENT_SECRET is set/);
  });

  it("refuses a short session key without echoing it, readably after redaction", () => {
    const msg = refusal({ BELAY_CONSOLE_SESSION_KEY: "short-key-123" });
    expect(msg).toContain("BELAY_CONSOLE_SESSION_KEY is too short (13 bytes); it must be at least 32 bytes");
    expect(msg).not.toContain("short-key-123");
    expect(redactText(msg)).toBe(msg);
  });

  it("with DATABASE_URL (replicas possible) OIDC needs a shared session key; embedded storage makes one per process", () => {
    const msg = refusal({ ...OIDC, DATABASE_URL: "postgres://db.example.com/belay" });
    expect(msg).toMatch(/^BELAY_CONSOLE_SESSION_KEY is required when BELAY_OIDC_ISSUER and DATABASE_URL are set/);
    expect(loadConfig({ ...OIDC }).console.sessionKey).toBeNull();
    expect(loadConfig({ ...OIDC, DATABASE_URL: "postgres://db.example.com/belay", BELAY_CONSOLE_SESSION_KEY: KEY }).console.sessionKey).not.toBeNull();
  });

  it("takes an http:// issuer only on loopback", () => {
    expect(refusal({ ...OIDC, BELAY_OIDC_ISSUER: "http://idp.example.com" })).toContain("BELAY_OIDC_ISSUER must be an https:// address (http:// only on a loopback address, for tests)");
    expect(loadConfig({ ...OIDC, BELAY_OIDC_ISSUER: "http://127.0.0.1:4000/oidc" }).console.oidc?.issuer).toBe("http://127.0.0.1:4000/oidc");
    expect(loadConfig({ ...OIDC, BELAY_OIDC_ISSUER: "http://[::1]:4000" }).console.oidc).not.toBeNull();
  });

  it("refuses a public URL with a path, or not http(s), and bad hours", () => {
    expect(refusal({ BELAY_PUBLIC_URL: "https://x.example.com/belay" })).toContain("BELAY_PUBLIC_URL must be an origin without a path (e.g. https://x.example.com)");
    expect(refusal({ BELAY_PUBLIC_URL: "ftp://x.example.com" })).toContain("BELAY_PUBLIC_URL must be an http:// or https:// address");
    expect(refusal({ BELAY_CONSOLE_SESSION_HOURS: "0" })).toContain("BELAY_CONSOLE_SESSION_HOURS is not valid: must be at least 0.25");
  });
});
