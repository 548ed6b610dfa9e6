import { z } from "zod";

export type Risk = "low" | "medium" | "high";
export const RISKS: readonly Risk[] = ["low", "medium", "high"];

const ruleSchema = z.object({
  /** Users who may approve this risk. With both lists empty, anyone may. */
  users: z.array(z.string().min(1)).default([]),
  /** Groups (config groups, or Slack user groups resolved by the Slack surface) whose members may approve. */
  groups: z.array(z.string().min(1)).default([]),
  /** Distinct approvers needed. */
  required: z.number().int().min(1).max(5),
  /** Whether the person who asked for the run may be one of the approvers. */
  requesterMayApprove: z.boolean(),
});

export const approvalPolicySchema = z.object({
  /** How long an approval stays good, in seconds (default 15 minutes). */
  expiresAfterSeconds: z.number().int().min(10).max(86_400).default(900),
  /** Static groups: name -> user ids. */
  groups: z.record(z.string(), z.array(z.string().min(1))).default({}),
  risks: z
    .object({
      low: ruleSchema.default({ users: [], groups: [], required: 1, requesterMayApprove: true }),
      medium: ruleSchema.default({ users: [], groups: [], required: 1, requesterMayApprove: true }),
      high: ruleSchema.default({ users: [], groups: [], required: 2, requesterMayApprove: false }),
    })
    .default({
      low: { users: [], groups: [], required: 1, requesterMayApprove: true },
      medium: { users: [], groups: [], required: 1, requesterMayApprove: true },
      high: { users: [], groups: [], required: 2, requesterMayApprove: false },
    }),
});

export type ApprovalPolicy = z.infer<typeof approvalPolicySchema>;
export type RiskRule = ApprovalPolicy["risks"][Risk];

export const defaultApprovalPolicy: ApprovalPolicy = approvalPolicySchema.parse({});

/** Someone acting on a run: who, with which groups, through which surface. */
export interface Actor {
  id: string;
  groups?: readonly string[];
  surface: string;
}

/** An approval as stored. */
export interface ApprovalRecord {
  actor: string;
  groups: readonly string[];
  planHash: string;
  createdAt: Date;
  expiresAt: Date;
}

export type Refusal =
  | { code: "not_an_approver"; reason: string }
  | { code: "self_approval"; reason: string }
  | { code: "plan_changed"; reason: string }
  | { code: "already_approved"; reason: string };

function groupsOf(policy: ApprovalPolicy, actor: { id: string; groups?: readonly string[] }): Set<string> {
  const groups = new Set(actor.groups ?? []);
  for (const [name, members] of Object.entries(policy.groups)) if (members.includes(actor.id)) groups.add(name);
  return groups;
}

/** Whether this person may approve a step of this risk at all (ignoring who asked). */
export function mayApprove(policy: ApprovalPolicy, risk: Risk, actor: { id: string; groups?: readonly string[] }): boolean {
  const rule = policy.risks[risk];
  if (rule.users.length === 0 && rule.groups.length === 0) return true;
  if (rule.users.includes(actor.id)) return true;
  const groups = groupsOf(policy, actor);
  return rule.groups.some((g) => groups.has(g));
}

function describeApprovers(rule: RiskRule): string {
  const parts = [...rule.users.map((u) => `user ${u}`), ...rule.groups.map((g) => `group ${g}`)];
  return parts.join(", ");
}

/**
 * Checks one approval as it is given. Returns the refusal, or null when it may be recorded.
 * `existing` are the approvals already recorded for the same step.
 */
export function checkApproval(input: {
  policy: ApprovalPolicy;
  risk: Risk;
  requester: string;
  actor: { id: string; groups?: readonly string[] };
  shownPlanHash: string;
  currentPlanHash: string;
  existing: readonly ApprovalRecord[];
  now: Date;
}): Refusal | null {
  const { policy, risk, actor } = input;
  const rule = policy.risks[risk];
  if (input.shownPlanHash !== input.currentPlanHash) {
    return {
      code: "plan_changed",
      reason: `the plan changed since it was shown (approved ${input.shownPlanHash.slice(0, 12)}, current ${input.currentPlanHash.slice(0, 12)}); review the new plan and approve again`,
    };
  }
  if (!mayApprove(policy, risk, actor)) {
    return {
      code: "not_an_approver",
      reason: `${actor.id} may not approve ${risk}-risk steps; approvers are ${describeApprovers(rule)}`,
    };
  }
  if (actor.id === input.requester && !rule.requesterMayApprove) {
    return {
      code: "self_approval",
      reason: `${actor.id} asked for this run and may not approve its ${risk}-risk steps; ask another approver`,
    };
  }
  const live = input.existing.filter((a) => a.planHash === input.currentPlanHash && a.expiresAt > input.now);
  if (live.some((a) => a.actor === actor.id)) {
    return { code: "already_approved", reason: `${actor.id} has already approved this step` };
  }
  return null;
}

export interface PolicyVerdict {
  satisfied: boolean;
  /** Distinct approvers whose approvals count now. */
  counted: string[];
  required: number;
  /** Why approvals on record do not count (expired, for another plan, ...). */
  ignored: { actor: string; reason: string }[];
}

/** Whether the approvals on record let the step run now. */
export function evaluateApprovals(input: {
  policy: ApprovalPolicy;
  risk: Risk;
  requester: string;
  planHash: string;
  approvals: readonly ApprovalRecord[];
  now: Date;
}): PolicyVerdict {
  const rule = input.policy.risks[input.risk];
  const counted = new Set<string>();
  const ignored: PolicyVerdict["ignored"] = [];
  for (const a of input.approvals) {
    if (a.planHash !== input.planHash) ignored.push({ actor: a.actor, reason: "given for a different plan" });
    else if (a.expiresAt <= input.now) ignored.push({ actor: a.actor, reason: `expired at ${a.expiresAt.toISOString()}` });
    else if (!mayApprove(input.policy, input.risk, { id: a.actor, groups: a.groups })) {
      ignored.push({ actor: a.actor, reason: "no longer an approver for this risk" });
    } else if (a.actor === input.requester && !rule.requesterMayApprove) {
      ignored.push({ actor: a.actor, reason: "is the requester" });
    } else counted.add(a.actor);
  }
  return { satisfied: counted.size >= rule.required, counted: [...counted], required: rule.required, ignored };
}
