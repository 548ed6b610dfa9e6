import { describe, expect, it } from "vitest";
import { parseFileConfig } from "../../src/config.ts";
import { People, principalAudit, principalFromOidc } from "../../src/identity/index.ts";

const ISS = "https://idp.example.com";
const people = new People({
  alice: { email: "alice@example.com", oidc: "sub-alice" },
  bob: { email: "Bob@Example.com" },
  carol: { oidc: { issuer: `${ISS}/`, subject: "sub-carol" } },
});

describe("principalFromOidc", () => {
  it("maps by subject, with surface console and auth oidc", () => {
    const p = principalFromOidc(people, { issuer: ISS, subject: "sub-alice", email: "someone-else@example.com", emailVerified: true, name: "Alice A" });
    expect(p?.person).toBe("alice");
    expect(p?.surface).toBe("console");
    expect(p?.auth).toEqual({ method: "oidc", issuer: ISS, subject: "sub-alice" });
    expect(principalAudit(p!)).toEqual({ auth: { method: "oidc", issuer: ISS, subject: "sub-alice" }, asserted: { email: "someone-else@example.com", name: "Alice A" } });
  });

  it("maps by email only when the provider verified it", () => {
    expect(principalFromOidc(people, { issuer: ISS, subject: "sub-bob", email: "bob@example.com", emailVerified: true })?.person).toBe("bob");
    expect(principalFromOidc(people, { issuer: ISS, subject: "sub-bob", email: "bob@example.com", emailVerified: false })).toBeNull();
    expect(principalFromOidc(people, { issuer: ISS, subject: "sub-bob", email: "bob@example.com" })).toBeNull();
  });

  it("an issuer-bound subject maps only for that issuer", () => {
    expect(principalFromOidc(people, { issuer: ISS, subject: "sub-carol" })?.person).toBe("carol");
    expect(principalFromOidc(people, { issuer: "https://evil.example.com", subject: "sub-carol" })).toBeNull();
  });

  it("nobody in people: is null (may look, not decide)", () => {
    expect(principalFromOidc(people, { issuer: ISS, subject: "sub-mallory", email: "mallory@example.com", emailVerified: true })).toBeNull();
  });

  it("BELAY_CONFIG takes oidc: as a subject or issuer+subject, and refuses one subject for two people", () => {
    const f = parseFileConfig(`people:\n  alice: { oidc: sub-a }\n  carol: { oidc: { issuer: ${ISS}, subject: sub-c } }\n`, "belay.yaml");
    expect(new People(f.people).fromOidc(ISS, "sub-c")).toBe("carol");
    expect(() => parseFileConfig("people:\n  alice: { oidc: sub-a }\n  bob: { oidc: sub-a }\n", "belay.yaml")).toThrow(/oidc sub-a belongs to both alice and bob/);
    expect(() => parseFileConfig("people:\n  alice: { oidc: { issuer: x, subject: s } }\n", "belay.yaml")).toThrow(/issuer URL/);
  });
});
