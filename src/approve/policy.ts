import { z } from "zod";
import { mayBeSamePerson, unmappedSurface } from "../identity/people.ts";
import { authenticatedPerson, type Principal } from "../identity/principal.ts";

export type Risk = "low" | "medium" | "high";
export const RISKS: readonly Risk[] = ["low", "medium", "high"];

/** What a risk rule says when the config leaves a key out: a trial works with no policy at all. */
const RULE_DEFAULTS = {
  low: { users: [], groups: [], required: 1, requesterMayApprove: true },
  medium: { users: [], groups: [], required: 1, requesterMayApprove: true },
  high: { users: [], groups: [], required: 2, requesterMayApprove: false },
} as const satisfies Record<Risk, unknown>;

/** A rule as written: every key optional, merged over its risk's defaults. */
const partialRuleSchema = z.strictObject({
  /** People who may approve this risk (canonical ids or any mapped identity). With both lists empty, anyone may. */
  users: z.array(z.string().min(1)).optional(),
  /** Groups (config groups, or Slack user groups resolved by belay) whose members may approve. */
  groups: z.array(z.string().min(1)).optional(),
  /** Distinct people needed. */
  required: z.number().int().min(1).max(5).optional(),
  /** Whether the person who asked for the run may be one of the approvers. */
  requesterMayApprove: z.boolean().optional(),
});

export interface RiskRule {
  users: string[];
  groups: string[];
  required: number;
  requesterMayApprove: boolean;
}

const mergeRule = (risk: Risk) =>
  partialRuleSchema.optional().transform((r): RiskRule => {
    const d = RULE_DEFAULTS[risk];
    return { users: r?.users ?? [...d.users], groups: r?.groups ?? [...d.groups], required: r?.required ?? d.required, requesterMayApprove: r?.requesterMayApprove ?? d.requesterMayApprove };
  });

export const breakGlassSchema = z.strictObject({
  /** Acting for someone else (`belay approve --as`): off, on for any login, or the people who may. */
  allowed: z.union([z.boolean(), z.array(z.string().min(1))]).default(false),
});

export const approvalPolicySchema = z
  .strictObject({
    /** How long an approval stays good, in seconds (default 15 minutes). */
    expiresAfterSeconds: z.number().int().min(10).max(86_400).default(900),
    /** Static groups: name -> people (canonical ids or any mapped identity). */
    groups: z.record(z.string(), z.array(z.string().min(1))).default({}),
    risks: z.strictObject({ low: mergeRule("low"), medium: mergeRule("medium"), high: mergeRule("high") }).optional(),
    breakGlass: breakGlassSchema.optional(),
  })
  .transform((p) => ({
    expiresAfterSeconds: p.expiresAfterSeconds,
    groups: p.groups,
    risks: p.risks ?? { low: mergeRule("low").parse(undefined), medium: mergeRule("medium").parse(undefined), high: mergeRule("high").parse(undefined) },
    breakGlass: { allowed: p.breakGlass?.allowed ?? false },
    /** True when the config gave no risks at all: `belay serve` says so loudly. */
    isDefault: p.risks === undefined,
  }));

export type ApprovalPolicy = z.infer<typeof approvalPolicySchema>;
export type ApprovalPolicyInput = z.input<typeof approvalPolicySchema>;

export const defaultApprovalPolicy: ApprovalPolicy = approvalPolicySchema.parse({});

/** An approval as stored. `actor` is the person; `authenticatedAs` who actually authenticated. */
export interface ApprovalRecord {
  actor: string;
  groups: readonly string[];
  planHash: string;
  createdAt: Date;
  expiresAt: Date;
  /** The person whose login or Slack request gave it (differs from `actor` only for break-glass). */
  authenticatedAs?: string | null;
  /** Set (truthy) when it was given for someone else. */
  breakGlass?: object | boolean | null;
}

export type Refusal =
  | { code: "not_an_approver"; reason: string }
  | { code: "self_approval"; reason: string }
  | { code: "plan_changed"; reason: string }
  | { code: "already_approved"; reason: string }
  | { code: "break_glass_refused"; reason: string }
  | { code: "break_glass_limit"; reason: string }
  | { code: "indistinct_people"; reason: string };

/** Someone the policy judges: a Principal, or an approval on record. */
type Judged = { person: string; groups: readonly string[] };

function groupsOf(policy: ApprovalPolicy, who: Judged): Set<string> {
  const groups = new Set(who.groups);
  for (const [name, members] of Object.entries(policy.groups)) if (members.includes(who.person)) groups.add(name);
  return groups;
}

function authority(policy: ApprovalPolicy, risk: Risk, who: Judged): boolean {
  const rule = policy.risks[risk];
  if (rule.users.length === 0 && rule.groups.length === 0) return true;
  if (rule.users.includes(who.person)) return true;
  const groups = groupsOf(policy, who);
  return rule.groups.some((g) => groups.has(g));
}

/** Whether this person may approve a step of this risk at all (ignoring who asked). */
export function mayApprove(policy: ApprovalPolicy, risk: Risk, principal: Principal): boolean {
  return authority(policy, risk, principal);
}

/** Break-glass the config does not allow: refused whatever the decision. Null when fine. */
export function breakGlassRefusal(policy: ApprovalPolicy, principal: Principal): Refusal | null {
  const bg = principal.breakGlass;
  if (!bg) return null;
  const allowed = policy.breakGlass.allowed;
  if (allowed === true || (Array.isArray(allowed) && allowed.includes(bg.by))) return null;
  const who = Array.isArray(allowed) && allowed.length ? `only ${allowed.join(", ")} may` : "nobody may";
  return { code: "break_glass_refused", reason: `${bg.by} (login ${bg.login}) may not act for ${principal.person}: break-glass is configured and ${who} (approval.breakGlass.allowed in BELAY_CONFIG)` };
}

function describeApprovers(rule: RiskRule): string {
  return [...rule.users.map((u) => `user ${u}`), ...rule.groups.map((g) => `group ${g}`)].join(", ");
}

const authOf = (a: ApprovalRecord) => a.authenticatedAs ?? a.actor;

const surfaceName = (id: string) => (unmappedSurface(id) === "slack" ? `Slack user ${id}` : `terminal login ${id.slice(3)} (${id})`);

/**
 * The first of `theirs` that belay cannot tell apart from any of `mine` (different people by
 * id, but unmapped identities from different surfaces), or null. Such a pair may be one
 * person, so it can never count as "distinct people" or "not the requester".
 */
function indistinctFrom(mine: readonly string[], theirs: readonly string[]): [string, string] | null {
  for (const m of mine) for (const t of theirs) if (m !== t && mayBeSamePerson(m, t)) return [m, t];
  return null;
}

function indistinctReason(pair: [string, string], what: string): string {
  const [m, t] = pair;
  return (
    `${m} cannot be told apart from ${what} ${t}: neither is mapped in people: (BELAY_CONFIG), and ${surfaceName(m)} and ${surfaceName(t)} may be one person; ` +
    `map each person there (e.g. people: { alice: { slack: U0ALICE1, login: alice } }) so belay knows who is who`
  );
}

/**
 * Checks one approval as it is given. Returns the refusal, or null when it may be recorded.
 * `existing` are the approvals already recorded for the same step. People are compared by
 * canonical id, and an approval's person and its authenticating person both count as used:
 * one login can never supply two approvals, break-glass or not. Where the rule needs two
 * people or a non-requester, an unmapped identity from one surface is never taken as someone
 * other than an unmapped identity from another (`indistinct_people`).
 */
export function checkApproval(input: {
  policy: ApprovalPolicy;
  risk: Risk;
  requester: string;
  principal: Principal;
  shownPlanHash: string;
  currentPlanHash: string;
  existing: readonly ApprovalRecord[];
  now: Date;
}): Refusal | null {
  const { policy, risk, principal: p } = input;
  const rule = policy.risks[risk];
  const by = authenticatedPerson(p);
  if (input.shownPlanHash !== input.currentPlanHash) {
    return {
      code: "plan_changed",
      reason: `the plan changed since it was shown (approved ${input.shownPlanHash.slice(0, 12)}, current ${input.currentPlanHash.slice(0, 12)}); review the new plan and approve again`,
    };
  }
  const bg = breakGlassRefusal(policy, p);
  if (bg) return bg;
  if (!mayApprove(policy, risk, p)) {
    const unmapped = p.auth.method === "os" && p.person.startsWith("os:") ? ` (login ${p.auth.login} is not mapped to anyone in people: in BELAY_CONFIG)` : "";
    return { code: "not_an_approver", reason: `${p.person} may not approve ${risk}-risk steps; approvers are ${describeApprovers(rule)}${unmapped}` };
  }
  if (!rule.requesterMayApprove && (p.person === input.requester || by === input.requester)) {
    return {
      code: "self_approval",
      reason: `${by === input.requester ? by : p.person} asked for this run and may not approve its ${risk}-risk steps${p.breakGlass ? " (not for someone else either)" : ""}; ask another approver`,
    };
  }
  const mine = [...new Set([p.person, by])];
  if (!rule.requesterMayApprove) {
    const pair = indistinctFrom(mine, [input.requester]);
    if (pair) return { code: "indistinct_people", reason: indistinctReason(pair, "the requester") };
  }
  const live = input.existing.filter((a) => a.planHash === input.currentPlanHash && a.expiresAt > input.now);
  const same = live.find((a) => a.actor === p.person || authOf(a) === p.person || a.actor === by || authOf(a) === by);
  if (same) {
    const reason =
      same.actor === p.person && authOf(same) === by
        ? `${p.person} has already approved this step`
        : same.actor === p.person
          ? `an approval by ${p.person} is already on record (given for them by ${authOf(same)}, break-glass); another person must give the next one`
          : `${by} already gave an approval of this step (as ${same.actor}); another person must give the next one`;
    return { code: "already_approved", reason };
  }
  if (p.breakGlass && live.some((a) => a.breakGlass)) {
    return { code: "break_glass_limit", reason: "this step already has a break-glass approval; at most one of its approvals may be break-glass" };
  }
  if (rule.required > 1) {
    const counted = evaluateApprovals({ policy, risk, requester: input.requester, planHash: input.currentPlanHash, approvals: input.existing, now: input.now }).countedIds;
    const pair = indistinctFrom(mine, counted);
    if (pair) return { code: "indistinct_people", reason: indistinctReason(pair, "the approver") };
  }
  return null;
}

export interface PolicyVerdict {
  satisfied: boolean;
  /** Distinct people whose approvals count now. */
  counted: string[];
  required: number;
  /** Why approvals on record do not count (expired, for another plan, ...). */
  ignored: { actor: string; reason: string }[];
  /** Every identity behind the counted approvals (person and authenticating person). */
  countedIds: string[];
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
  const counted: string[] = [];
  const used = new Set<string>();
  let breakGlassCounted = false;
  const ignored: PolicyVerdict["ignored"] = [];
  // Why an approval cannot count as another person (or as not the requester): null when it can.
  const blurred = (actor: string, by: string): string | null => {
    const asker = rule.requesterMayApprove ? null : indistinctFrom([actor, by], [input.requester]);
    if (asker) return indistinctReason(asker, "the requester");
    const other = rule.required > 1 ? indistinctFrom([actor, by], [...used]) : null;
    return other ? indistinctReason(other, "the approver") : null;
  };
  let blur: string | null;
  for (const a of [...input.approvals].sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime())) {
    const by = authOf(a);
    if (a.planHash !== input.planHash) ignored.push({ actor: a.actor, reason: "given for a different plan" });
    else if (a.expiresAt <= input.now) ignored.push({ actor: a.actor, reason: `expired at ${a.expiresAt.toISOString()}` });
    else if (!authority(input.policy, input.risk, { person: a.actor, groups: a.groups })) ignored.push({ actor: a.actor, reason: "no longer an approver for this risk" });
    else if (!rule.requesterMayApprove && (a.actor === input.requester || by === input.requester)) ignored.push({ actor: a.actor, reason: "is the requester" });
    else if (used.has(a.actor) || used.has(by)) ignored.push({ actor: a.actor, reason: `${by} already supplied an approval of this step` });
    else if ((blur = blurred(a.actor, by))) ignored.push({ actor: a.actor, reason: blur });
    else if (a.breakGlass && breakGlassCounted) ignored.push({ actor: a.actor, reason: "only one break-glass approval counts per step" });
    else {
      counted.push(a.actor);
      used.add(a.actor).add(by);
      if (a.breakGlass) breakGlassCounted = true;
    }
  }
  return { satisfied: counted.length >= rule.required, counted, required: rule.required, ignored, countedIds: [...used] };
}
