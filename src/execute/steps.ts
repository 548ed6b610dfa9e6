/** Carrying out steps: read-only ones, and act steps (gate, run, verify, rollback), each given the lease's signal. */
import { describeError, isBelayError } from "../errors.ts";
import { redact, redactText } from "../audit/redact.ts";
import type { AuditInput } from "../audit/events.ts";
import { buildPlan } from "../plan/plan.ts";
import type { StepDef } from "../sdk/types.ts";
import { getRun, type StepPatch, type StepRecord } from "../store/runs.ts";
import { knownOutputs, makeContext, normalisePreview, normaliseVerify, NotYetKnown, withTimeout, type ContextInput } from "./context.ts";
import { afterMutation, afterVerify, mutationOutcome, PRE_WRITE_ERRORS, SETTLED } from "./decider.ts";
import { outputDigest, type Fenced, type Next, type State } from "./fenced.ts";
import { passGate } from "./gate.ts";
import { storable } from "./storable.ts";
import { isWrittenTextTrue, notifyText } from "./notify-text.ts";
import { eventsForRun } from "../audit/chain.ts";

export async function readOnly(f: Fenced, state: State, s: StepRecord, def: StepDef): Promise<Next> {
  const { run, lease } = state;
  await f.commit(run.id, async (tx, _r, now) => {
    await f.stepUpdate(tx, run.id, s.idx, { status: "running", attempts: s.attempts + 1, startedAt: s.startedAt ?? now, error: null });
    return { events: [{ kind: "step.started", actor: "belay", surface: "engine", step: s.name, data: { kind: s.kind, attempt: s.attempts + 1 } }] };
  });
  const input = f.ctxInput(state, s);
  let output: unknown;
  try {
    if (def.kind === "diagnose") {
      output = await withTimeout(`step ${s.name}`, def.timeoutMs, (signal) => def.run!(makeContext(input, signal, "read")), lease.signal);
    } else if (def.kind === "notify") {
      // Never announce a change that was skipped or only previewed: see notify-text.ts.
      const message = await deliveredNotifyText(f, state, s, () => def.message!({ params: state.params, outputs: state.outputs }));
      // The message leaves the engine: what is delivered is redacted, like what is stored.
      await withTimeout(`step ${s.name}`, def.timeoutMs, () => f.deps.notify?.({ id: run.id, incidentId: run.incidentId }, redactText(message)), lease.signal);
      output = { message };
    } else {
      output = await waitUntil(f, state, s, def, input);
    }
  } catch (err) {
    if (lease.lost) return "stop"; // the new owner runs it again
    const reason = `step ${s.name} failed: ${describeError(err)}`;
    await f.commit(run.id, async (tx, _r, now) => {
      await f.stepUpdate(tx, run.id, s.idx, { status: "failed", error: describeError(err), finishedAt: now });
      await f.runUpdate(tx, run.id, { status: "failed", statusReason: reason, leaseOwner: null }, now);
      return {
        events: [
          { kind: "step.failed", actor: "belay", surface: "engine", step: s.name, data: { error: describeError(err) } },
          { kind: "run.failed", actor: "belay", surface: "engine", data: { reason } },
        ],
      };
    });
    return "stop";
  }
  const out = f.storedOutput(state, s.idx, output);
  await f.commit(run.id, async (tx, _r, now) => {
    await f.stepUpdate(tx, run.id, s.idx, { status: "succeeded", ...out.patch, finishedAt: now });
    const events: AuditInput[] = [{ kind: "step.succeeded", actor: "belay", surface: "engine", step: s.name, data: { ...outputDigest(out.stored), ...(out.escaped ? { unstorableEscaped: true } : {}) } }];
    if (def.kind === "notify") events.push({ kind: "notify.sent", actor: "belay", surface: "engine", step: s.name, data: { message: (out.stored as { message: string }).message } });
    return { events };
  });
  await f.phase("step.after", run.id, s);
  return "continue";
}

/**
 * The notify text from the run's real step states (the audit trail is read only when a step was
 * skipped or previewed). The playbook's text is written only when it is sent: written for a
 * change that did not happen, it may read that change's result, which does not exist.
 */
async function deliveredNotifyText(f: Fenced, state: State, s: StepRecord, write: () => string): Promise<string> {
  const facts = { idx: s.idx, dryRun: state.run.dryRun, steps: state.steps, events: [] as Awaited<ReturnType<typeof eventsForRun>> };
  if (isWrittenTextTrue(facts)) return write();
  facts.events = await eventsForRun(f.deps.db, state.run.id);
  return notifyText("", facts).text;
}

export async function waitUntil(f: Fenced, state: State, s: StepRecord, def: StepDef, input: ContextInput): Promise<{ waitedMs: number }> {
  const started = (s.startedAt ?? f.deps.clock()).getTime();
  for (;;) {
    const held = await withTimeout(`step ${s.name} condition`, Math.min(def.intervalMs * 4, def.timeoutMs), (signal) => def.until!(makeContext(input, signal, "read")), state.lease.signal);
    const waited = f.deps.clock().getTime() - started;
    if (held) return { waitedMs: waited };
    if (waited >= def.timeoutMs) throw new Error(`condition not met within ${def.timeoutMs} ms`);
    // The pause ends early when the lease goes (a shutdown hands the wait over at once).
    await sleepUnlessAborted(Math.min(def.intervalMs, def.timeoutMs - waited), state.lease.signal);
    if (state.lease.lost) throw state.lease.signal.reason;
    const run = await getRun(f.deps.db, state.run.id);
    if (run?.abortRequested) throw new Error(`aborted by ${run.abortRequested} while waiting`);
  }
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Computes previews for this act step and later ones whose inputs are known; re-hashes the plan if any changed. */
export async function preview(f: Fenced, state: State, from: StepRecord): Promise<{ ok: true; planHash: string } | { ok: false; error: string }> {
  const { run, pb } = state;
  const previews = new Map<number, string>();
  const fresh: { idx: number; name: string; text: string; data: unknown; patch: StepPatch }[] = [];
  for (const s of state.steps) {
    if (s.preview !== null) previews.set(s.idx, s.preview);
    if (s.kind !== "act" || s.idx < from.idx || s.preview !== null || SETTLED.has(s.status)) continue;
    const def = pb.steps[s.idx]!;
    const known = knownOutputs(state.outputs, state.finished);
    const input = { ...f.ctxInput(state, s), outputs: known };
    try {
      // A later step its own condition will skip is not previewed (a preview may call a target).
      if (s.idx > from.idx && def.when && !def.when({ params: state.params, outputs: known })) continue;
      const value = await withTimeout(`preview of ${s.name}`, def.timeoutMs, (signal) => def.preview!(makeContext(input, signal, "preview")), state.lease.signal);
      const p = normalisePreview(value);
      const text = storable(redact(p.text)).value;
      previews.set(s.idx, text);
      const data = f.storedPreviewData(state, s.idx, p.data);
      fresh.push({ idx: s.idx, name: s.name, text, data: data.stored, patch: data.patch });
    } catch (err) {
      if (state.lease.lost) throw state.lease.signal.reason;
      if (err instanceof NotYetKnown) continue; // shown once the outputs it reads exist
      if (s.idx === from.idx) return { ok: false, error: `the preview of ${s.name} failed: ${describeError(err)}` };
      f.deps.logger.warn({ runId: run.id, step: s.name, err: describeError(err) }, "preview of a later step failed; it will be retried when the step comes up");
    }
  }
  if (fresh.length === 0) return { ok: true, planHash: run.planHash };
  const plan = buildPlan(pb, run.params, previews);
  await f.commit(run.id, async (tx, _r, now) => {
    for (const p of fresh) await f.stepUpdate(tx, run.id, p.idx, { preview: p.text, ...p.patch });
    await f.runUpdate(tx, run.id, { planHash: plan.hash }, now);
    return {
      events: fresh.map((p) => ({ kind: "step.previewed", actor: "belay", surface: "engine", step: p.name, data: { preview: p.text, planHash: plan.hash } })),
    };
  });
  for (const p of fresh) {
    const rec = state.steps.find((x) => x.idx === p.idx)!;
    rec.preview = p.text;
    rec.previewData = p.data;
  }
  return { ok: true, planHash: plan.hash };
}

export async function act(f: Fenced, state: State, s: StepRecord, def: StepDef): Promise<Next> {
  const { run, lease } = state;
  const previewed = await preview(f, state, s);
  if (!previewed.ok) {
    await f.fail(run, s, previewed.error);
    return "stop";
  }
  const gate = await passGate(f, state, s, def, previewed.planHash);
  if (!gate.ok) return gate.next;
  const { lockKeys } = gate;
  await f.phase("act.started", run.id, s);
  const input = f.ctxInput(state, s);
  let result: unknown;
  let error: unknown = undefined;
  try {
    result = await withTimeout(
      `step ${s.name}`,
      def.timeoutMs,
      (signal) => def.run!({ ...makeContext(input, signal, "full"), preview: s.preview ?? "", previewData: f.rawPreviewData(state.mirror, s) }),
      lease.signal,
    );
  } catch (err) {
    error = err ?? new Error("the step threw a nullish value");
  }
  const outcome = mutationOutcome(error, { leaseLost: lease.lost });
  const next = afterMutation(outcome);
  if (outcome === "lease_lost") return "stop"; // nothing more is ours to write; the new owner recovers the step
  if (outcome === "timed_out" || outcome === "threw") {
    // Its mutation may still be running, or may have been applied before the error: uncertain,
    // and the target locks stay held until a person decides.
    const why = outcome === "timed_out" ? "timed out" : `failed (${describeError(error)}) after it may have reached the target`;
    await f.block(run, s, next.step!, next.runStatus!, `step ${s.name} ${why}; its change may be partly applied: choose retry, skip or abort`, {
      kind: "step.uncertain",
      actor: "belay",
      surface: "engine",
      step: s.name,
      data: { reason: describeError(error), outcome, locksKept: lockKeys },
    });
    return "stop";
  }
  if (outcome === "refused") {
    await f.fail(run, s, `step ${s.name} failed: ${describeError(error)}`);
    return "stop";
  }
  await f.phase("act.ran", run.id, s);
  const out = f.storedOutput(state, s.idx, result);
  await f.commit(run.id, async (tx) => {
    await f.stepUpdate(tx, run.id, s.idx, { status: "verifying", ...out.patch });
    return { events: [{ kind: "step.executed", actor: "belay", surface: "engine", step: s.name, data: { ...outputDigest(out.stored), ...(out.escaped ? { unstorableEscaped: true } : {}) } }] };
  });
  await f.phase("act.recorded", run.id, s);
  return verifyAndSettle(f, state, s, def, out.raw);
}

export async function verifyAndSettle(f: Fenced, state: State, s: StepRecord, def: StepDef, result: unknown): Promise<Next> {
  const { run, lease } = state;
  const input = f.ctxInput(state, s);
  let verdict: { ok: boolean; detail: string | null };
  try {
    verdict = normaliseVerify(await withTimeout(`verify of ${s.name}`, def.verifyTimeoutMs, (signal) => def.verify!({ ...makeContext(input, signal, "read"), result }), lease.signal));
  } catch (err) {
    if (lease.lost) return "stop";
    verdict = { ok: false, detail: describeError(err) };
  }
  if (verdict.ok) {
    const settled = afterVerify(true, null);
    await f.commit(
      run.id,
      async (tx, _r, now) => {
        await f.stepUpdate(tx, run.id, s.idx, { status: settled.step, finishedAt: now });
        return {
          events: [
            { kind: "step.verified", actor: "belay", surface: "engine", step: s.name, data: { detail: verdict.detail } },
            { kind: "step.succeeded", actor: "belay", surface: "engine", step: s.name, data: {} },
          ],
        };
      },
      { release: !settled.keepLocks },
    );
    await f.phase("step.after", run.id, s);
    return "continue";
  }
  const detail = verdict.detail ?? "verify returned false";
  if (!def.rollback) {
    await f.commit(run.id, async (tx, _r, now) => {
      await f.stepUpdate(tx, run.id, s.idx, { status: "failed", error: `verify failed: ${detail}`, finishedAt: now });
      await f.runUpdate(tx, run.id, { status: "failed", statusReason: `verify of ${s.name} failed (${detail}); the step is irreversible: ${def.irreversible}`, leaseOwner: null }, now);
      return {
        events: [
          { kind: "step.verify_failed", actor: "belay", surface: "engine", step: s.name, data: { detail } },
          { kind: "run.failed", actor: "belay", surface: "engine", data: { reason: `verify of ${s.name} failed; no rollback (${def.irreversible})` } },
        ],
      };
    }, { release: true });
    return "stop";
  }
  await f.commit(run.id, async (tx) => {
    await f.stepUpdate(tx, run.id, s.idx, { status: "rolling_back", error: `verify failed: ${detail}` });
    return { events: [{ kind: "step.verify_failed", actor: "belay", surface: "engine", step: s.name, data: { detail, rollingBack: true } }] };
  });
  try {
    await withTimeout(`rollback of ${s.name}`, def.timeoutMs, (signal) => def.rollback!({ ...makeContext(input, signal, "full"), result }), lease.signal);
  } catch (err) {
    if (lease.lost) return "stop";
    const timedOut = isBelayError(err, "step.timeout");
    const refused = isBelayError(err) && PRE_WRITE_ERRORS.has(err.code);
    const settled = afterVerify(false, timedOut ? "timed_out" : refused ? "failed" : "threw");
    if (settled.step === "uncertain") {
      const what = timedOut ? "timed out" : `failed (${describeError(err)})`;
      await f.block(run, s, "uncertain", "awaiting_decision", `rollback of ${s.name} ${what}; it may be partly applied: check the target, then choose retry, skip or abort`, {
        kind: "step.uncertain",
        actor: "belay",
        surface: "engine",
        step: s.name,
        data: { interrupted: "rolling_back", reason: describeError(err) },
      });
      return "stop";
    }
    await f.commit(run.id, async (tx, _r, now) => {
      await f.stepUpdate(tx, run.id, s.idx, { status: "failed", error: `verify failed (${detail}); rollback failed: ${describeError(err)}`, finishedAt: now });
      await f.runUpdate(tx, run.id, { status: "failed", statusReason: `rollback of ${s.name} failed: ${describeError(err)}; check the target by hand`, leaseOwner: null }, now);
      return {
        events: [
          { kind: "step.rollback_failed", actor: "belay", surface: "engine", step: s.name, data: { error: describeError(err) } },
          { kind: "run.failed", actor: "belay", surface: "engine", data: { reason: `rollback of ${s.name} failed` } },
        ],
      };
    }, { release: true });
    return "stop";
  }
  await f.commit(run.id, async (tx, _r, now) => {
    await f.stepUpdate(tx, run.id, s.idx, { status: "rolled_back", finishedAt: now });
    await f.runUpdate(tx, run.id, { status: "rolled_back", statusReason: `verify of ${s.name} failed (${detail}); rolled back`, leaseOwner: null }, now);
    return {
      events: [
        { kind: "step.rolled_back", actor: "belay", surface: "engine", step: s.name, data: { detail } },
        { kind: "run.rolled_back", actor: "belay", surface: "engine", data: { step: s.name } },
      ],
    };
  }, { release: true });
  return "stop";
}
