import { describe, expect, it } from "vitest";
import { approvalPolicySchema, checkApproval, evaluateApprovals, mayApprove, type ApprovalRecord } from "../../src/approve/policy.ts";

const now = new Date("2026-11-22T03:00:00Z");
const H = "a".repeat(64);
const approval = (actor: string, over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  actor,
  groups: [],
  planHash: H,
  createdAt: now,
  expiresAt: new Date(now.getTime() + 15 * 60_000),
  ...over,
});
const policy = approvalPolicySchema.parse({
  groups: { sre: ["sam", "sue"] },
  risks: {
    low: { users: [], groups: [], required: 1, requesterMayApprove: true },
    medium: { users: ["mia"], groups: ["sre"], required: 1, requesterMayApprove: true },
    high: { users: [], groups: ["sre", "leads"], required: 2, requesterMayApprove: false },
  },
});

describe("approval policy", () => {
  it("has the documented defaults: any approver for low and medium, two distinct non-requesters for high, 15 minutes", () => {
    const d = approvalPolicySchema.parse({});
    expect(d.expiresAfterSeconds).toBe(900);
    expect(d.risks.low).toMatchObject({ required: 1, requesterMayApprove: true });
    expect(d.risks.medium).toMatchObject({ required: 1, requesterMayApprove: true });
    expect(d.risks.high).toMatchObject({ required: 2, requesterMayApprove: false });
  });

  it("knows approvers by user id, static group and a group the surface resolved", () => {
    expect(mayApprove(policy, "medium", { id: "mia" })).toBe(true);
    expect(mayApprove(policy, "medium", { id: "sam" })).toBe(true);
    expect(mayApprove(policy, "medium", { id: "zed" })).toBe(false);
    expect(mayApprove(policy, "high", { id: "lee", groups: ["leads"] })).toBe(true);
    expect(mayApprove(policy, "low", { id: "anyone" })).toBe(true);
  });

  const check = (actor: { id: string; groups?: string[] }, risk: "low" | "medium" | "high", existing: ApprovalRecord[] = [], shown = H) =>
    checkApproval({ policy, risk, requester: "sue", actor, shownPlanHash: shown, currentPlanHash: H, existing, now });

  it("refuses self-approval on high risk, with the reason", () => {
    expect(check({ id: "sue" }, "high")).toEqual({ code: "self_approval", reason: expect.stringContaining("sue asked for this run and may not approve its high-risk steps") });
    expect(check({ id: "sue" }, "medium")).toBeNull();
  });

  it("refuses someone outside the approvers, naming who may", () => {
    expect(check({ id: "zed" }, "medium")).toEqual({ code: "not_an_approver", reason: "zed may not approve medium-risk steps; approvers are user mia, group sre" });
  });

  it("refuses an approval given for another plan", () => {
    expect(check({ id: "sam" }, "high", [], "b".repeat(64))?.code).toBe("plan_changed");
  });

  it("refuses the same person twice", () => {
    expect(check({ id: "sam" }, "high", [approval("sam")])?.code).toBe("already_approved");
    // ...unless the earlier approval expired
    expect(check({ id: "sam" }, "high", [approval("sam", { expiresAt: now })])).toBeNull();
  });

  it("needs two distinct live approvals on high risk; one, expired ones and the requester's do not count", () => {
    const ev = (approvals: ApprovalRecord[]) => evaluateApprovals({ policy, risk: "high", requester: "sue", planHash: H, approvals, now });
    expect(ev([approval("sam")])).toMatchObject({ satisfied: false, counted: ["sam"], required: 2 });
    expect(ev([approval("sam"), approval("lee", { groups: ["leads"] })])).toMatchObject({ satisfied: true });
    expect(ev([approval("sam"), approval("lee", { groups: ["leads"], expiresAt: now })]).ignored).toEqual([{ actor: "lee", reason: `expired at ${now.toISOString()}` }]);
    expect(ev([approval("sam"), approval("sue")]).satisfied).toBe(false);
    expect(ev([approval("sam"), approval("lee", { groups: ["leads"], planHash: "c".repeat(64) })]).ignored[0]!.reason).toBe("given for a different plan");
  });
});
