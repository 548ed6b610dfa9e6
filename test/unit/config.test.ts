import { describe, expect, it } from "vitest";
import { parseFileConfig } from "../../src/config.ts";

const parse = (yaml: string) => parseFileConfig(yaml, "belay.yaml");
const refusal = (yaml: string): string => {
  try {
    parse(yaml);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the config was accepted");
};

describe("BELAY_CONFIG is validated strictly", () => {
  it("refuses a misspelt top-level key, naming it and the nearest valid one", () => {
    const msg = refusal("approvals:\n  risks:\n    high: { required: 3 }\n");
    expect(msg).toContain("approvals: unknown key (did you mean approval?)");
  });

  it("refuses an unknown key deep down, with its path", () => {
    expect(refusal("approval:\n  risks:\n    high: { requierd: 3 }\n")).toContain("approval.risks.high.requierd: unknown key (did you mean required?)");
    expect(refusal("approval:\n  risks:\n    hgih: { required: 3 }\n")).toContain("approval.risks.hgih: unknown key (did you mean high?)");
    expect(refusal("targets:\n  redis:\n    cache: { url: redis://x, passwrd: y }\n")).toContain("targets.redis.cache.passwrd: unknown key");
    expect(refusal("slack:\n  chanel: C1\n")).toContain("slack.chanel: unknown key (did you mean channel?)");
    expect(refusal("people:\n  alice: { slak: U0ALICE }\n")).toContain("people.alice.slak: unknown key (did you mean slack?)");
  });

  it("merges a partial risk over the defaults", () => {
    const c = parse("approval:\n  risks:\n    high: { required: 3 }\n");
    expect(c.approval.risks.high).toEqual({ users: [], groups: [], required: 3, requesterMayApprove: false });
    expect(c.approval.risks.medium).toEqual({ users: [], groups: [], required: 1, requesterMayApprove: true });
    expect(c.approval.isDefault).toBe(false);
    expect(parse("").approval.isDefault).toBe(true);
  });

  it("refuses a risk naming an undefined group, naming the key", () => {
    const msg = refusal("approval:\n  groups: { sre: [U0SAM] }\n  risks:\n    high: { groups: [sres] }\n");
    expect(msg).toContain('approval.risks.high.groups[0]: no group "sres" (did you mean sre?)');
  });

  it("accepts groups defined as Slack user groups", () => {
    const c = parse("slack:\n  usergroups: { oncall: S0ONCALL }\napproval:\n  risks:\n    medium: { groups: [oncall] }\n");
    expect(c.approval.risks.medium.groups).toEqual(["oncall"]);
  });

  it("refuses people nobody defined, in approvers, groups and break-glass lists", () => {
    expect(refusal("approval:\n  risks:\n    high: { users: [bob] }\n")).toContain('approval.risks.high.users[0]: no person "bob" in people:');
    expect(refusal("people:\n  alice: { login: alice }\napproval:\n  groups: { sre: [alcie] }\n")).toContain('approval.groups.sre[0]: no person "alcie" in people: (did you mean alice?)');
    expect(refusal("approval:\n  breakGlass: { allowed: [ops] }\n")).toContain('approval.breakGlass.allowed[0]: no person "ops"');
  });

  it("refuses one identity mapped to two people", () => {
    expect(refusal("people:\n  alice: { slack: U0ALICE }\n  al: { slack: U0ALICE }\n")).toContain("people: slack U0ALICE belongs to both alice and al");
  });

  it("rewrites every person it names to their canonical id", () => {
    const c = parse(
      [
        "people:",
        "  alice: { slack: U0ALICE, login: [alice, ali], email: alice@example.com, pagerduty: PALICE1 }",
        "  bob: { login: bob }",
        "approval:",
        "  groups: { sre: [U0ALICE, os:bob, U0UNMAPPED] }",
        "  risks:",
        "    medium: { users: [alice@example.com, ali] }",
        "  breakGlass: { allowed: [PALICE1] }",
      ].join("\n"),
    );
    expect(c.approval.groups.sre).toEqual(["alice", "bob", "U0UNMAPPED"]);
    expect(c.approval.risks.medium.users).toEqual(["alice", "alice"]);
    expect(c.approval.breakGlass.allowed).toEqual(["alice"]);
  });

  it("refuses a canonical id that could pass for another surface's identity", () => {
    expect(refusal("people:\n  UALICE: { login: alice }\n")).toContain("people.UALICE");
  });

  it("refuses a group that is neither defined nor shaped like a Slack user group id (a typo is not an id)", () => {
    const msg = refusal("approval:\n  groups: { sre: [U0ALICE1] }\n  risks:\n    high: { groups: [SRE] }\n");
    expect(msg).toContain('approval.risks.high.groups[0]: no group "SRE" (did you mean sre?)');
    expect(msg).toContain("a Slack user group id (S followed by at least 6 capitals or digits");
    expect(refusal("approval:\n  risks:\n    low: { groups: [S0] }\n")).toContain('approval.risks.low.groups[0]: no group "S0"');
    // a real-looking Slack user group id is still accepted as itself
    expect(parse("approval:\n  risks:\n    high: { groups: [S0123ABCD] }\n").approval.risks.high.groups).toEqual(["S0123ABCD"]);
  });

  it("reserves belay (the system actor) and anything starting with belay as a person's canonical id", () => {
    expect(refusal("people:\n  belay: { slack: U0EVE111 }\n")).toContain("people.belay");
    expect(refusal("people:\n  belay: { slack: U0EVE111 }\n")).toContain("reserved");
    expect(refusal("people:\n  belay-bot: { login: eve }\n")).toContain("people.belay-bot");
    expect(parse("people:\n  bel: { login: bel }\n").people.bel).toEqual({ login: "bel" });
  });
});
