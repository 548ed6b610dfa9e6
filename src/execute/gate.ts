import { evaluateApprovals } from "../approve/policy.ts";
import type { AuditInput } from "../audit/events.ts";
import { describeError } from "../errors.ts";
import type { StepDef } from "../sdk/types.ts";
import { getApprovalsAt, type RunRecord, type StepRecord } from "../store/runs.ts";
import { actGate } from "./decider.ts";
import { LockBusy, type Fenced, type Next, type State } from "./fenced.ts";

/**
 * The act gate, in order: approvals (judged on the database's clock), then the step's target
 * locks, taken in the same commit that marks it running; the database refuses both when
 * another unfinished run holds a lock, or when an abort was requested. A dry run only previews.
 */
export async function passGate(f: Fenced, state: State, s: StepRecord, def: StepDef, planHash: string): Promise<{ ok: true; lockKeys: string[] } | { ok: false; next: Next }> {
  const { run } = state;
  // Approvals are judged on the database's clock (read with them, in one round trip).
  const { approvals, dbNow } = await getApprovalsAt(f.deps.db, run.id, s.idx);
  const verdict = evaluateApprovals({ policy: f.deps.policy, risk: def.risk!, requester: run.requestedBy, planHash: planHash, approvals, now: dbNow });
  const gate = actGate({ dryRun: run.dryRun, approved: verdict.satisfied });
  if (gate === "preview_only") {
    await f.commit(run.id, async (tx, _r, now) => {
      await f.stepUpdate(tx, run.id, s.idx, { status: "previewed", finishedAt: now });
      return { events: [] };
    });
    return { ok: false, next: "continue" };
  }
  if (gate === "await_approval") {
    const need = verdict.required - verdict.counted.length;
    const events: AuditInput[] = [];
    // Approvals on record that no longer count (expired, for an older plan) are audited as such.
    if (verdict.ignored.length > 0) {
      events.push({ kind: "approval.expired", actor: "belay", surface: "engine", step: s.name, data: { ignored: verdict.ignored, planHash: planHash } });
    }
    // Surfaces re-render from events: the moment a run starts waiting on people is one.
    events.push({
      kind: "step.awaiting_approval",
      actor: "belay",
      surface: "engine",
      step: s.name,
      data: { risk: def.risk, required: verdict.required, approvers: verdict.counted, planHash: planHash },
    });
    await f.block(run, s, "awaiting_approval", "awaiting_approval", `step ${s.name} (${def.risk} risk) needs ${need} more approval${need === 1 ? "" : "s"}`, events);
    return { ok: false, next: "stop" };
  }
  let lockKeys: string[];
  try {
    lockKeys = f.lockKeys(state, def);
  } catch (err) {
    await f.fail(run, s, `the locks of ${s.name} could not be computed: ${describeError(err)}`);
    return { ok: false, next: "stop" };
  }
  // A shutdown that began since the runner's check: the change has not started, so the run is
  // handed over (and its step started by the next owner) rather than begun here and cut short.
  if (state.lease.draining) {
    state.lease.handOver("this belay is shutting down");
    return { ok: false, next: "stop" };
  }
  // The locks are taken in the same commit that marks the step running: the database
  // refuses both when another unfinished run holds a lock, or when an abort was requested.
  try {
    await f.commit(
      run.id,
      async (tx, _r, at) => {
        await f.stepUpdate(tx, run.id, s.idx, { status: "running", attempts: s.attempts + 1, startedAt: at, error: null });
        await f.runUpdate(tx, run.id, { statusReason: null }, at);
        return {
          events: [{ kind: "step.started", actor: "belay", surface: "engine", step: s.name, data: { risk: def.risk, approvedBy: verdict.counted, planHash: planHash, locks: lockKeys, attempt: s.attempts + 1 } }],
        };
      },
      { acquire: lockKeys },
    );
  } catch (err) {
    if (err instanceof LockBusy) return { ok: false, next: await waitForLock(f, run, s, err.heldBy) };
    throw err;
  }
  return { ok: true, lockKeys };
}

/** Another unfinished run holds a lock: the run waits (lease given up) and tries again in a second. */
export async function waitForLock(f: Fenced, run: RunRecord, s: StepRecord, heldBy: { target: string; runId: string }): Promise<Next> {
  const reason = `waiting for ${heldBy.target}, held by run ${heldBy.runId}`;
  await f.commit(run.id, async (tx, r, at) => {
    await f.runUpdate(tx, run.id, { status: "waiting", statusReason: reason, nextInMs: 1000, leaseOwner: null }, at);
    return { events: r.statusReason === reason ? [] : [{ kind: "lock.waited", actor: "belay", surface: "engine", step: s.name, data: heldBy }] };
  });
  return "stop";
}
