import { describe, expect, it } from "vitest";
import { approvalPolicySchema, checkApproval, evaluateApprovals, mayApprove, type ApprovalRecord } from "../../src/approve/policy.ts";
import { authenticatedPerson, People, principalFromSlack, principalFromTerminal, type Principal } from "../../src/identity/index.ts";

const now = new Date("2026-11-22T03:00:00Z");
const H = "a".repeat(64);
const people = new People({
  sue: { slack: "USUE", login: "sue" },
  sam: { slack: "USAM", login: "sam" },
  mia: { login: "mia" },
  lee: { slack: "ULEE" },
  ops: { login: "ops" },
});
const glassOn = { allowed: true } as const;
const tty = (login: string, over: { as?: string; reason?: string } = {}): Principal =>
  principalFromTerminal(people, { login, host: "bastion-1" }, { ...over, breakGlass: glassOn });
const slack = (userId: string, groups: string[] = []): Principal => principalFromSlack(people, { userId, teamId: "T0001", groups });

/** An approval as the engine records it from a principal. */
const approval = (p: Principal, over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  actor: p.person,
  groups: [...p.groups],
  planHash: H,
  createdAt: new Date(now.getTime() - 1000),
  expiresAt: new Date(now.getTime() + 15 * 60_000),
  authenticatedAs: authenticatedPerson(p),
  breakGlass: p.breakGlass,
  ...over,
});
const policy = approvalPolicySchema.parse({
  groups: { sre: ["sam", "sue"] },
  risks: {
    low: { users: [], groups: [], required: 1, requesterMayApprove: true },
    medium: { users: ["mia"], groups: ["sre"], required: 1, requesterMayApprove: true },
    high: { users: [], groups: ["sre", "leads"], required: 2, requesterMayApprove: false },
  },
  breakGlass: { allowed: true },
});
const anyone = approvalPolicySchema.parse({ breakGlass: { allowed: true } });

describe("approval policy", () => {
  it("has the documented defaults: any approver for low and medium, two distinct non-requesters for high, 15 minutes, no break-glass", () => {
    const d = approvalPolicySchema.parse({});
    expect(d.expiresAfterSeconds).toBe(900);
    expect(d.risks.low).toMatchObject({ required: 1, requesterMayApprove: true });
    expect(d.risks.medium).toMatchObject({ required: 1, requesterMayApprove: true });
    expect(d.risks.high).toMatchObject({ required: 2, requesterMayApprove: false });
    expect(d.breakGlass.allowed).toBe(false);
    expect(d.isDefault).toBe(true);
  });

  it("merges a partial risk over its defaults", () => {
    const p = approvalPolicySchema.parse({ risks: { high: { required: 3 } } });
    expect(p.risks.high).toEqual({ users: [], groups: [], required: 3, requesterMayApprove: false });
    expect(p.risks.low).toEqual({ users: [], groups: [], required: 1, requesterMayApprove: true });
    expect(p.isDefault).toBe(false);
  });

  it("knows approvers by person, static group and a group belay resolved in Slack", () => {
    expect(mayApprove(policy, "medium", tty("mia"))).toBe(true);
    expect(mayApprove(policy, "medium", slack("USAM"))).toBe(true);
    expect(mayApprove(policy, "medium", tty("zed"))).toBe(false);
    expect(mayApprove(policy, "high", slack("ULEE", ["leads"]))).toBe(true);
    expect(mayApprove(policy, "low", tty("anyone"))).toBe(true);
  });

  const check = (p: Principal, risk: "low" | "medium" | "high", existing: ApprovalRecord[] = [], shown = H, pol = policy) =>
    checkApproval({ policy: pol, risk, requester: "sue", principal: p, shownPlanHash: shown, currentPlanHash: H, existing, now });

  it("refuses self-approval on high risk, with the reason", () => {
    expect(check(tty("sue"), "high")).toEqual({ code: "self_approval", reason: expect.stringContaining("sue asked for this run and may not approve its high-risk steps") });
    expect(check(tty("sue"), "medium")).toBeNull();
  });

  it("knows the requester from any surface: her Slack id and her terminal login are one person", () => {
    expect(slack("USUE").person).toBe("sue");
    expect(tty("sue").person).toBe("sue");
    expect(check(slack("USUE"), "high")?.code).toBe("self_approval");
    const ev = evaluateApprovals({ policy, risk: "high", requester: "sue", planHash: H, approvals: [approval(tty("sam")), approval(slack("USUE"))], now });
    expect(ev.satisfied).toBe(false);
  });

  it("counts one person once across surfaces", () => {
    expect(check(slack("USAM"), "high", [approval(tty("sam"))])?.code).toBe("already_approved");
    const ev = evaluateApprovals({ policy, risk: "high", requester: "sue", planHash: H, approvals: [approval(tty("sam")), approval(slack("USAM"))], now });
    expect(ev).toMatchObject({ satisfied: false, counted: ["sam"] });
  });

  it("refuses someone outside the approvers, naming who may", () => {
    expect(check(tty("zed"), "medium")).toEqual({ code: "not_an_approver", reason: "os:zed may not approve medium-risk steps; approvers are user mia, group sre (login zed is not mapped to anyone in people: in BELAY_CONFIG)" });
  });

  it("refuses an approval given for another plan", () => {
    expect(check(tty("sam"), "high", [], "b".repeat(64))?.code).toBe("plan_changed");
  });

  it("refuses the same person twice", () => {
    expect(check(tty("sam"), "high", [approval(tty("sam"))])?.code).toBe("already_approved");
    // ...unless the earlier approval expired
    expect(check(tty("sam"), "high", [approval(tty("sam"), { expiresAt: now })])).toBeNull();
  });

  it("one login acting --as two people supplies one approval, never two", () => {
    const asSam = tty("ops", { as: "sam", reason: "sam is on the phone" });
    const asLee = tty("ops", { as: "lee", reason: "lee is driving" });
    expect(asSam.person).toBe("sam");
    expect(asSam.breakGlass).toMatchObject({ by: "ops", login: "ops", host: "bastion-1" });
    expect(check(asSam, "high", [], H, anyone)).toBeNull();
    expect(check(asLee, "high", [approval(asSam)], H, anyone)?.code).toBe("already_approved");
    expect(check(tty("ops"), "high", [approval(asSam)], H, anyone)?.code).toBe("already_approved");
    expect(check(slack("USAM"), "high", [approval(asSam)], H, anyone)).toEqual({
      code: "already_approved",
      reason: "an approval by sam is already on record (given for them by ops, break-glass); another person must give the next one",
    });
    const ev = evaluateApprovals({ policy: anyone, risk: "high", requester: "sue", planHash: H, approvals: [approval(asSam), approval(asLee)], now });
    expect(ev).toMatchObject({ satisfied: false, counted: ["sam"] });
  });

  it("counts at most one break-glass approval per step, even from two operators", () => {
    const bySam = tty("sam", { as: "lee", reason: "lee has no laptop" });
    const byMia = tty("mia", { as: "ops", reason: "ops is offline" });
    expect(check(byMia, "high", [approval(bySam)], H, anyone)?.code).toBe("break_glass_limit");
    const ev = evaluateApprovals({ policy: anyone, risk: "high", requester: "sue", planHash: H, approvals: [approval(bySam), approval(byMia)], now });
    expect(ev.satisfied).toBe(false);
    // one break-glass approval and one person acting as themselves make two
    expect(evaluateApprovals({ policy: anyone, risk: "high", requester: "sue", planHash: H, approvals: [approval(bySam), approval(tty("mia"))], now }).satisfied).toBe(true);
  });

  it("never lets the requester approve her own high-risk step for someone else", () => {
    expect(check(tty("sue", { as: "sam", reason: "sam asked me to" }), "high", [], H, anyone)?.code).toBe("self_approval");
  });

  it("refuses break-glass the config does not allow", () => {
    const off = approvalPolicySchema.parse({});
    expect(check(tty("ops", { as: "sam", reason: "x" }), "low", [], H, off)?.code).toBe("break_glass_refused");
    expect(() => principalFromTerminal(people, { login: "ops", host: "h" }, { as: "sam", reason: "x", breakGlass: { allowed: false } })).toThrow(/break-glass/);
    expect(() => principalFromTerminal(people, { login: "ops", host: "h" }, { as: "sam", breakGlass: glassOn })).toThrow(/--reason/);
    const onlyOps = approvalPolicySchema.parse({ breakGlass: { allowed: ["ops"] } });
    const byMia = principalFromTerminal(people, { login: "mia", host: "h" }, { as: "sam", reason: "x", breakGlass: onlyOps.breakGlass });
    expect(check(byMia, "low", [], H, onlyOps)).toEqual({ code: "break_glass_refused", reason: "mia (login mia) may not act for sam: break-glass is configured and only ops may (approval.breakGlass.allowed in BELAY_CONFIG)" });
    expect(check(tty("ops", { as: "sam", reason: "x" }), "low", [], H, onlyOps)).toBeNull();
  });

  it("needs two distinct live approvals on high risk; one, expired ones and the requester's do not count", () => {
    const ev = (approvals: ApprovalRecord[]) => evaluateApprovals({ policy, risk: "high", requester: "sue", planHash: H, approvals, now });
    const sam = tty("sam");
    const lee = slack("ULEE", ["leads"]);
    expect(ev([approval(sam)])).toMatchObject({ satisfied: false, counted: ["sam"], required: 2 });
    expect(ev([approval(sam), approval(lee)])).toMatchObject({ satisfied: true });
    expect(ev([approval(sam), approval(lee, { expiresAt: now })]).ignored).toEqual([{ actor: "lee", reason: `expired at ${now.toISOString()}` }]);
    expect(ev([approval(sam), approval(tty("sue"))]).satisfied).toBe(false);
    expect(ev([approval(sam), approval(lee, { planHash: "c".repeat(64) })]).ignored[0]!.reason).toBe("given for a different plan");
  });
});

describe("approval policy: identities nobody mapped", () => {
  // No people: at all (a trial, or a person someone forgot to map): Alice in Slack is UALICE01,
  // Alice at her terminal is os:alice, and belay cannot know they are one person.
  const none = new People({});
  const inSlack = (userId: string) => principalFromSlack(none, { userId, teamId: "T0001" });
  const atTerminal = (login: string) => principalFromTerminal(none, { login, host: "h" }, { breakGlass: { allowed: false } });
  const d = approvalPolicySchema.parse({});
  const rec = (p: Principal): ApprovalRecord => ({ actor: p.person, groups: [], planHash: H, createdAt: new Date(now.getTime() - 1000), expiresAt: new Date(now.getTime() + 60_000), authenticatedAs: authenticatedPerson(p), breakGlass: null });
  const check = (p: Principal, requester: string, existing: ApprovalRecord[] = [], risk: "low" | "high" = "high") =>
    checkApproval({ policy: d, risk, requester, principal: p, shownPlanHash: H, currentPlanHash: H, existing, now });
  const ev = (requester: string, approvals: ApprovalRecord[]) => evaluateApprovals({ policy: d, risk: "high", requester, planHash: H, approvals, now });

  it("does not let one unmapped person count twice, once from Slack and once from a terminal", () => {
    // belay's own run (proposed for an incident): no requester a person could be
    expect(check(inSlack("UALICE01"), "belay")).toBeNull();
    const second = check(atTerminal("alice"), "belay", [rec(inSlack("UALICE01"))]);
    expect(second).toEqual({ code: "indistinct_people", reason: expect.stringContaining("map each person there") });
    expect(second!.reason).toContain("os:alice cannot be told apart from the approver UALICE01");
    const verdict = ev("belay", [rec(inSlack("UALICE01")), rec(atTerminal("alice"))]);
    expect(verdict).toMatchObject({ satisfied: false, counted: ["UALICE01"] });
    expect(verdict.ignored[0]).toMatchObject({ actor: "os:alice", reason: expect.stringContaining("cannot be told apart") });
    // a mapped requester: the same
    expect(check(atTerminal("alice"), "sue", [rec(inSlack("UALICE01"))])?.code).toBe("indistinct_people");
    // an unmapped Slack requester, with the approvals from Slack then a terminal: the terminal one may be either of them
    expect(check(inSlack("UALICE01"), "UCAROL01")).toBeNull();
    expect(check(atTerminal("alice"), "UCAROL01", [rec(inSlack("UALICE01"))])).toEqual({ code: "indistinct_people", reason: expect.stringContaining("from the requester UCAROL01") });
    expect(ev("UCAROL01", [rec(inSlack("UALICE01")), rec(atTerminal("alice"))]).satisfied).toBe(false);
  });

  it("does not let an unmapped requester approve her own high-risk step from another surface", () => {
    expect(check(atTerminal("alice"), "UALICE01")?.code).toBe("indistinct_people");
    expect(check(inSlack("UALICE01"), "os:alice")?.code).toBe("indistinct_people");
    expect(ev("UALICE01", [rec(atTerminal("alice")), rec(atTerminal("bob"))]).satisfied).toBe(false);
  });

  it("keeps same-surface unmapped people distinct: a trial with Slack only (or terminals only) still works", () => {
    expect(check(inSlack("UBOB0001"), "UALICE01")).toBeNull();
    expect(check(inSlack("UDAN0001"), "UALICE01", [rec(inSlack("UBOB0001"))])).toBeNull();
    expect(ev("UALICE01", [rec(inSlack("UBOB0001")), rec(inSlack("UDAN0001"))]).satisfied).toBe(true);
    expect(ev("os:alice", [rec(atTerminal("bob")), rec(atTerminal("dan"))]).satisfied).toBe(true);
    // belay's own runs (an incident, a drill) were asked for by nobody a person could be
    expect(ev("belay", [rec(atTerminal("bob")), rec(atTerminal("dan"))]).satisfied).toBe(true);
  });

  it("does not mind mixed surfaces where the rule needs neither distinct people nor a non-requester", () => {
    expect(check(atTerminal("alice"), "UALICE01", [], "low")).toBeNull();
  });

  it("tells mapped people apart from unmapped ones", () => {
    const some = new People({ sue: { slack: "USUE", login: "sue" } });
    const sue = principalFromTerminal(some, { login: "sue", host: "h" }, { breakGlass: { allowed: false } });
    expect(check(sue, "UCAROL01")).toBeNull();
    expect(ev("UCAROL01", [rec(sue), rec(inSlack("UBOB0001"))]).satisfied).toBe(true);
  });
});
