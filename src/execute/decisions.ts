import { breakGlassRefusal, checkApproval, evaluateApprovals, mayApprove } from "../approve/policy.ts";
import type { AuditInput } from "../audit/events.ts";
import { redactText } from "../audit/redact.ts";
import { BelayError } from "../errors.ts";
import { authenticatedPerson, principalAudit, type Principal } from "../identity/principal.ts";
import type { Queryable } from "../store/driver.ts";
import {
  databaseNow,
  deleteRunSecrets,
  expireApprovals,
  getApprovals,
  getSteps,
  insertApproval,
  releaseTargetLocks,
  TERMINAL_RUN_STATUSES,
  updateRun,
  updateStep,
  type RunRecord,
  type StepRecord,
} from "../store/runs.ts";
import { commitRun } from "./commit.ts";
import { IN_FLIGHT } from "./decider.ts";
import type { EngineDeps } from "./deps.ts";

/** A human's decision about a run, from any surface. `step` is a step name or index. `actor` is established by the surface. */
export type Decision =
  | { kind: "approve"; runId: string; step: string | number; actor: Principal; planHash: string }
  | { kind: "deny"; runId: string; step: string | number; actor: Principal; reason?: string }
  | { kind: "skip"; runId: string; step: string | number; actor: Principal; reason?: string }
  | { kind: "retry"; runId: string; step: string | number; actor: Principal }
  | { kind: "abort"; runId: string; actor: Principal; reason?: string };

export interface DecisionResult {
  accepted: boolean;
  /** What happened, or why it was refused, in words for the human who asked. */
  message: string;
  /** Machine-readable refusal reason. */
  code: string | null;
  /** The run may proceed now: the caller should kick the engine. */
  resumed: boolean;
}

const refused = (code: string, message: string): DecisionResult => ({ accepted: false, code, message, resumed: false });
const accepted = (message: string, resumed: boolean): DecisionResult => ({ accepted: true, code: null, message, resumed });

function findStep(steps: StepRecord[], ref: string | number): StepRecord | undefined {
  return typeof ref === "number" ? steps.find((s) => s.idx === ref) : steps.find((s) => s.name === ref || String(s.idx) === ref);
}

export async function decide(deps: EngineDeps, d: Decision): Promise<DecisionResult> {
  return commitRun<DecisionResult>(deps, d.runId, async (tx, run, now) => announceBreakGlass(d, await decideLocked(tx, deps, run, d, now)));
}

/** An accepted break-glass decision is its own audit event: the Slack surface posts it to the incident thread. */
function announceBreakGlass(d: Decision, out: { events: AuditInput[]; value: DecisionResult }): { events: AuditInput[]; value: DecisionResult } {
  const bg = d.actor.breakGlass;
  if (!bg || !out.value.accepted) return out;
  const step = d.kind === "abort" ? null : String(d.step);
  const event: AuditInput = {
    actor: bg.by,
    surface: d.actor.surface,
    kind: "break_glass.used",
    step: out.events.find((e) => e.step)?.step ?? step,
    data: { decision: d.kind, onBehalfOf: d.actor.person, login: bg.login, host: bg.host, reason: bg.reason },
  };
  return { events: [...out.events, event], value: out.value };
}

async function decideLocked(tx: Queryable, deps: EngineDeps, run: RunRecord, d: Decision, now: Date): Promise<{ events: AuditInput[]; value: DecisionResult }> {
    const base = { actor: d.actor.person, surface: d.actor.surface };
    const who = principalAudit(d.actor);
    const refuse = (code: string, message: string, step: string | null = null) => ({
      events: [{ ...base, kind: "approval.refused", step, data: { decision: d.kind, code, reason: message, principal: who } } satisfies AuditInput],
      value: refused(code, message),
    });
    const glass = breakGlassRefusal(deps.policy, d.actor);
    if (glass) return refuse(glass.code, glass.reason);
    if (TERMINAL_RUN_STATUSES.includes(run.status)) {
      return refuse("run_finished", `run ${run.id} has already finished (${run.status}); nothing to ${d.kind}`);
    }
    if (d.kind === "abort") return abort(tx, deps, run, d, now);

    const steps = await getSteps(tx, run.id);
    const step = findStep(steps, d.step);
    if (!step) return refuse("no_such_step", `run ${run.id} has no step ${d.step}; its steps are ${steps.map((s) => s.name).join(", ")}`);
    const risk = step.risk ?? "low";

    if (d.kind === "approve") {
      if (step.status !== "awaiting_approval" || run.status !== "awaiting_approval") {
        return refuse("not_awaiting", `step ${step.name} is not waiting for approval (step ${step.status}, run ${run.status})`, step.name);
      }
      // Expiry is judged, and set, on the database's clock: never a replica's.
      const dbNow = await databaseNow(tx);
      const existing = await getApprovals(tx, run.id, step.idx);
      const refusal = checkApproval({
        policy: deps.policy,
        risk,
        requester: run.requestedBy,
        principal: d.actor,
        shownPlanHash: d.planHash,
        currentPlanHash: run.planHash,
        existing,
        now: dbNow,
      });
      if (refusal) return refuse(refusal.code, refusal.reason, step.name);
      const expiresAt = new Date(dbNow.getTime() + deps.policy.expiresAfterSeconds * 1000);
      const inserted = await insertApproval(tx, {
        id: deps.newId("apr"),
        runId: run.id,
        stepIdx: step.idx,
        planHash: run.planHash,
        actor: d.actor.person,
        groups: [...d.actor.groups],
        surface: d.actor.surface,
        createdAt: dbNow,
        expiresAt,
        authenticatedAs: authenticatedPerson(d.actor),
        auth: { ...d.actor.auth },
        breakGlass: d.actor.breakGlass ? { ...d.actor.breakGlass } : null,
      });
      if (!inserted) return refuse("already_approved", `${d.actor.person} has already approved ${step.name}`, step.name);
      const verdict = evaluateApprovals({
        policy: deps.policy,
        risk,
        requester: run.requestedBy,
        planHash: run.planHash,
        approvals: await getApprovals(tx, run.id, step.idx),
        now: dbNow,
      });
      if (verdict.satisfied) await updateRun(tx, run.id, { status: "pending", statusReason: null, nextInMs: 0 }, now);
      else {
        const need = verdict.required - verdict.counted.length;
        await updateRun(tx, run.id, { statusReason: `step ${step.name} (${risk} risk) needs ${need} more approval${need === 1 ? "" : "s"}` }, now);
      }
      const lapsed: AuditInput[] = verdict.ignored.length
        ? [{ actor: "belay", surface: "engine", kind: "approval.expired", step: step.name, data: { ignored: verdict.ignored, planHash: run.planHash } }]
        : [];
      return {
        events: [
          ...lapsed,
          {
            ...base,
            kind: "step.approved",
            step: step.name,
            data: { planHash: run.planHash, risk, expiresAt: expiresAt.toISOString(), approvers: verdict.counted, required: verdict.required, satisfied: verdict.satisfied, principal: who },
          },
        ],
        value: accepted(
          verdict.satisfied
            ? `${step.name} approved by ${verdict.counted.join(" and ")}; it runs now`
            : `${d.actor.person} approved ${step.name}; ${verdict.required - verdict.counted.length} more approval(s) needed from another approver`,
          verdict.satisfied,
        ),
      };
    }

    // deny, skip and retry: anyone who may approve this risk, or (for deny/skip) the requester.
    const isApprover = mayApprove(deps.policy, risk, d.actor);
    const maySettle = isApprover || (d.kind !== "retry" && d.actor.person === run.requestedBy);
    if (!maySettle) return refuse("not_an_approver", `${d.actor.person} may not ${d.kind} ${risk}-risk steps`, step.name);

    if (d.kind === "deny") {
      if (step.status !== "awaiting_approval") return refuse("not_awaiting", `step ${step.name} is not waiting for approval (${step.status})`, step.name);
      // Stored and shown: redacted like every other reason (a person may paste a DSN into it).
      const reason = redactText(`${step.name} denied by ${d.actor.person}${d.reason ? `: ${d.reason}` : ""}`);
      await updateStep(tx, run.id, step.idx, { status: "skipped", error: reason, finishedAt: now });
      await updateRun(tx, run.id, { status: "aborted", statusReason: reason, leaseOwner: null }, now);
      await releaseTargetLocks(tx, run.id);
      await deleteRunSecrets(tx, run.id);
      return {
        events: [
          { ...base, kind: "step.denied", step: step.name, data: { reason: d.reason ?? null } },
          { ...base, kind: "run.aborted", data: { reason } },
        ],
        value: accepted(`${reason}; the run is stopped`, false),
      };
    }

    if (d.kind === "skip") {
      if (step.status !== "awaiting_approval" && step.status !== "uncertain") {
        return refuse("not_awaiting", `step ${step.name} cannot be skipped now (${step.status})`, step.name);
      }
      await updateStep(tx, run.id, step.idx, { status: "skipped", finishedAt: now });
      await updateRun(tx, run.id, { status: "pending", statusReason: null, nextInMs: 0 }, now);
      // A person settled the step (an uncertain one kept its target locks until now).
      await releaseTargetLocks(tx, run.id);
      const events: AuditInput[] = [{ ...base, kind: "step.skipped", step: step.name, data: { reason: d.reason ?? `skipped by ${d.actor.person}`, was: step.status } }];
      if (step.status === "uncertain") events.unshift({ ...base, kind: "step.decided", step: step.name, data: { choice: "skip" } });
      return { events, value: accepted(`${step.name} skipped by ${d.actor.person}; the run goes on`, true) };
    }

    // retry an uncertain step: it goes back to the approval gate, and a possibly-applied
    // mutation is a new decision: the approvals given before now no longer count. Its target
    // locks stay held: the retry re-takes them as its own.
    if (step.status !== "uncertain") return refuse("not_uncertain", `step ${step.name} is not uncertain (${step.status}); only an interrupted step can be retried`, step.name);
    await updateStep(tx, run.id, step.idx, { status: "pending", error: null });
    await expireApprovals(tx, run.id, step.idx);
    await updateRun(tx, run.id, { status: "pending", statusReason: null, nextInMs: 0 }, now);
    return {
      events: [{ ...base, kind: "step.decided", step: step.name, data: { choice: "retry" } }],
      value: accepted(`${step.name} will be retried (${d.actor.person} checked it had not taken effect)`, true),
    };
}

async function abort(
  tx: Queryable,
  deps: EngineDeps,
  run: RunRecord,
  d: Extract<Decision, { kind: "abort" }>,
  now: Date,
): Promise<{ events: AuditInput[]; value: DecisionResult }> {
  const base = { actor: d.actor.person, surface: d.actor.surface };
  const steps = await getSteps(tx, run.id);
  const risks = [...new Set(steps.map((s) => s.risk).filter((r) => r !== null))];
  const allowed = d.actor.person === run.requestedBy || risks.length === 0 || risks.some((r) => mayApprove(deps.policy, r, d.actor));
  if (!allowed) {
    const message = `${d.actor.person} may not abort run ${run.id}: only its requester or an approver may`;
    return { events: [{ ...base, kind: "approval.refused", data: { decision: "abort", code: "not_an_approver", reason: message } }], value: refused("not_an_approver", message) };
  }
  const reason = redactText(`aborted by ${d.actor.person}${d.reason ? `: ${d.reason}` : ""}`);
  // Whether a process holds the run is judged on the database's clock.
  const dbNow = await databaseNow(tx);
  const leaseMs = deps.leaseMs ?? 30_000;
  const inFlight = steps.filter((x) => IN_FLIGHT.has(x.status));
  const leased = run.status === "running" && run.leaseOwner !== null && run.leaseExpiresAt !== null && run.leaseExpiresAt > dbNow;
  // A lease that lapsed only just may belong to an owner that is alive but slow (a stalled
  // heartbeat, a database that stopped answering it): its mutation may still be going. Only a
  // lease expired for more than a whole lease period means nobody is working the step.
  const lapsedRecently = run.status === "running" && inFlight.length > 0 && (run.leaseExpiresAt === null || run.leaseExpiresAt.getTime() > dbNow.getTime() - leaseMs);
  if (leased || lapsedRecently) {
    await updateRun(tx, run.id, { abortRequested: d.actor.person }, now);
    const names = inFlight.map((x) => x.name).join(", ");
    return {
      events: [{ ...base, kind: "run.abort_requested", data: { reason: d.reason ?? null, ...(leased ? {} : { leaseLapsedRecently: true, inFlight: inFlight.map((x) => x.name) }) } }],
      value: accepted(
        leased
          ? `abort requested by ${d.actor.person}; the step in progress finishes and is verified, then the run stops`
          : `abort requested by ${d.actor.person}; the run's lease lapsed only moments ago and its owner may still be changing the target (step ${names}), so the step keeps its locks: the run stops once the step settles, or, if nobody finishes it, the step becomes uncertain for you to check and abort again`,
        false,
      ),
    };
  }
  // A step its dead owner left in flight stays on record as what it is: a change that may have happened.
  const events: AuditInput[] = [];
  for (const s of inFlight) {
    const status = s.kind === "act" && s.status !== "verifying" ? "uncertain" : "failed";
    await updateStep(tx, run.id, s.idx, { status, error: `interrupted (${s.status}) when the run was aborted`, finishedAt: now });
    if (status === "uncertain") events.push({ ...base, kind: "step.uncertain", step: s.name, data: { interrupted: s.status, reason: "the run was aborted while the step was in flight" } });
  }
  await updateRun(tx, run.id, { status: "aborted", statusReason: reason, leaseOwner: null }, now);
  await releaseTargetLocks(tx, run.id);
  await deleteRunSecrets(tx, run.id);
  events.push({ ...base, kind: "run.aborted", data: { reason: d.reason ?? null } });
  return { events, value: accepted(`run ${run.id} ${reason}`, false) };
}

export function assertDecisionAccepted(r: DecisionResult): void {
  if (!r.accepted) throw new BelayError("approval.refused", r.message, { details: r });
}
