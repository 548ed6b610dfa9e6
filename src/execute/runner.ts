import { evaluateApprovals } from "../approve/policy.ts";
import { canonicalJson, sha256Hex } from "../audit/canonical.ts";
import { eventBody, rowToEvent } from "../audit/chain.ts";
import type { AuditInput } from "../audit/events.ts";
import { redact, REDACTED } from "../audit/redact.ts";
import { BelayError, describeError, isBelayError } from "../errors.ts";
import { buildPlan, playbookFingerprint } from "../plan/plan.ts";
import { secretParamNames } from "../plan/bind.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { StepDef } from "../sdk/types.ts";
import {
  acquireTargetLocks,
  getApprovals,
  getRun,
  getSteps,
  releaseTargetLocks,
  renewLease,
  type RunPatch,
  type RunRecord,
  type RunStatus,
  type StepPatch,
  type StepRecord,
  runFromJson,
} from "../store/runs.ts";
import type { Queryable } from "../store/driver.ts";
import type { CommitFn } from "./commit.ts";
import {
  jsonRoundTrip,
  knownOutputs,
  makeContext,
  normalisePreview,
  normaliseVerify,
  NotYetKnown,
  stepLogger,
  withTimeout,
  type ContextInput,
} from "./context.ts";
import type { EngineDeps } from "./deps.ts";

type Next = "continue" | "stop";

const FINISHED: ReadonlySet<string> = new Set(["succeeded", "skipped", "previewed", "rolled_back", "failed"]);
const IN_FLIGHT: ReadonlySet<string> = new Set(["running", "verifying", "rolling_back"]);

/** A small, bounded summary of an output for the audit trail: its hash, and the output itself when small. */
function outputDigest(output: unknown): Record<string, unknown> {
  const text = canonicalJson(output);
  return text.length <= 2000 ? { output, outputSha256: sha256Hex(text) } : { outputBytes: text.length, outputSha256: sha256Hex(text) };
}

/** Runner commits go through belay_runner_commit: their callbacks only record changes. */
const NO_TX: Queryable = {
  query: () => Promise.reject(new Error("runner commits record changes; they do not query")),
};

/** A patch as JSON for belay_runner_commit: undefined dropped, dates as ISO text, keys kept as named. */
function jsonPatch(patch: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) out[k] = v instanceof Date ? v.toISOString() : v;
  return out;
}

/** In-memory secret params of runs proposed by this process (they are never stored). */
export type SecretCache = Map<string, Record<string, unknown>>;

interface State {
  run: RunRecord;
  steps: StepRecord[];
  pb: AnyPlaybook;
  params: Record<string, unknown>;
  outputs: Record<string, unknown>;
  finished: Set<string>;
}

export class Runner {
  constructor(
    private readonly deps: EngineDeps,
    private readonly secrets: SecretCache,
  ) {}

  private get leaseMs(): number {
    return this.deps.leaseMs ?? 30_000;
  }

  /** Works a claimed run until it finishes or blocks (approval, decision, lock, lost lease). */
  async process(runId: string, previousStatus: RunStatus): Promise<void> {
    let lost = false;
    const heartbeat = setInterval(() => {
      renewLease(this.deps.db, runId, this.deps.owner, new Date(this.deps.clock().getTime() + this.leaseMs))
        .then((ok) => {
          if (!ok) lost = true;
        })
        .catch((err) => this.deps.logger.warn({ err, runId }, "lease renewal failed"));
    }, Math.max(50, Math.floor(this.leaseMs / 3)));
    heartbeat.unref();
    try {
      if (previousStatus === "running") {
        await this.commit(runId, async () => ({ events: [{ kind: "run.resumed", actor: "belay", surface: "engine", data: { owner: this.deps.owner, reason: "the previous owner stopped renewing its lease" } }] }));
      }
      for (;;) {
        if (lost) return;
        const state = await this.load(runId);
        if (!state) return;
        if ((await this.step(state)) === "stop") return;
      }
    } catch (err) {
      if (isBelayError(err, "lease.lost")) {
        this.deps.logger.warn({ runId, err: describeError(err) }, "lease lost; another process has the run");
        return;
      }
      // Left `running`: when the lease runs out, any process picks the run up and recovers it.
      this.deps.logger.error({ runId, err }, "run processing failed; it will be recovered when its lease expires");
    } finally {
      clearInterval(heartbeat);
      this.mirrors.delete(runId);
    }
  }

  /**
   * What this process knows of the runs it is working: the run row and its steps as last
   * committed. While a process holds a run's lease only it changes the steps, and every
   * commit returns the run row as the database has it, so the mirror saves reads per step.
   */
  private readonly mirrors = new Map<string, { run: RunRecord; steps: StepRecord[] }>();
  private readonly pending = new Map<string, { steps: [number, StepPatch][]; run: RunPatch[] }>();

  /** Records a step change for the commit in progress (see `commit`). */
  private async stepUpdate(_tx: Queryable, runId: string, idx: number, patch: StepPatch): Promise<void> {
    this.pending.get(runId)!.steps.push([idx, patch]);
  }

  /** Records a run change for the commit in progress (see `commit`). */
  private async runUpdate(_tx: Queryable, runId: string, patch: RunPatch, _now: Date): Promise<void> {
    this.pending.get(runId)!.run.push(patch);
  }

  /**
   * One runner commit, in one round trip: `fn` says what changes (step and run patches,
   * audit events) and `belay_runner_commit` applies it atomically, refusing when this
   * process no longer holds the run's lease. The event hashes are computed in the database
   * from the canonical bodies built here, chained on the head it holds locked.
   */
  private async commit(runId: string, fn: CommitFn<unknown>): Promise<unknown> {
    let mirror = this.mirrors.get(runId);
    if (!mirror) {
      const fresh = await getRun(this.deps.db, runId);
      if (!fresh) throw new BelayError("run.not_found", `no run ${runId}`);
      mirror = { run: fresh, steps: await getSteps(this.deps.db, runId) };
      this.mirrors.set(runId, mirror);
    }
    const pending = { steps: [] as [number, StepPatch][], run: [] as RunPatch[] };
    this.pending.set(runId, pending);
    try {
      const now = this.deps.clock();
      const out = await fn(NO_TX, mirror.run, now);
      const at = now.toISOString();
      const rows = out.events.map((e) => ({
        id: this.deps.newId("evt"),
        at,
        kind: e.kind,
        actor: e.actor,
        surface: e.surface,
        run_id: e.runId ?? runId,
        incident_id: e.incidentId ?? mirror.run.incidentId,
        step: e.step ?? null,
        data: canonicalJson(redact(e.data ?? {})),
      }));
      const payload = {
        run: runId,
        owner: this.deps.owner,
        now: at,
        steps: pending.steps.map(([idx, patch]) => ({ idx, patch: jsonPatch(patch) })),
        run_patch: jsonPatch(Object.assign({}, ...pending.run)),
        events: rows.map((r) => ({ ...r, body: eventBody(r) })),
      };
      let result: { run: Record<string, unknown>; events: { seq: number; prev: string; hash: string }[] };
      try {
        const r = await this.deps.db.query<{ r: typeof result }>("SELECT belay_runner_commit($1::jsonb) AS r", [JSON.stringify(payload)]);
        result = r.rows[0]!.r;
      } catch (err) {
        if ((err as { code?: string }).code === "BL001") throw new BelayError("lease.lost", (err as Error).message, { cause: err });
        throw err;
      }
      mirror.run = runFromJson(result.run);
      for (const [idx, patch] of pending.steps) {
        const step = mirror.steps.find((x) => x.idx === idx);
        if (step) Object.assign(step, patch);
      }
      if (rows.length > 0) {
        this.deps.onEvents?.(
          rows.map((r, i) => rowToEvent({ ...r, seq: Number(result.events[i]!.seq), prev_hash: result.events[i]!.prev, hash: result.events[i]!.hash })),
        );
      }
      return out.value;
    } catch (err) {
      this.mirrors.delete(runId); // unknown state: read it again if we go on
      throw err;
    } finally {
      this.pending.delete(runId);
    }
  }

  private async load(runId: string): Promise<State | null> {
    let mirror = this.mirrors.get(runId);
    if (!mirror) {
      const fresh = await getRun(this.deps.db, runId);
      if (!fresh) return null;
      mirror = { run: fresh, steps: await getSteps(this.deps.db, runId) };
      this.mirrors.set(runId, mirror);
    }
    const { run, steps } = mirror;
    if (run.leaseOwner !== this.deps.owner || run.status !== "running") return null;
    const pb = this.deps.playbooks.get(run.playbookId);
    if (!pb) {
      await this.finish(run, "failed", `playbook ${run.playbookId} is not loaded in this belay; it may have been removed`);
      return null;
    }
    if (playbookFingerprint(pb) !== run.playbookFingerprint) {
      await this.finish(run, "failed", `playbook ${run.playbookId} changed since this run was proposed; propose a new run to review the new plan`);
      return null;
    }
    const params = { ...run.params, ...this.secrets.get(runId) };
    const missing = [...secretParamNames(pb.params)].filter((k) => params[k] === REDACTED);
    if (missing.length > 0) {
      await this.finish(run, "failed", `secret param(s) ${missing.join(", ")} are not stored and this process does not hold them; propose the run again`);
      return null;
    }
    const outputs: Record<string, unknown> = {};
    const finished = new Set<string>();
    for (const s of steps) {
      if (s.status === "succeeded") outputs[s.name] = s.output ?? undefined;
      if (FINISHED.has(s.status)) finished.add(s.name);
    }
    return { run, steps, pb, params, outputs, finished };
  }

  private ctxInput(state: State, step: StepRecord): ContextInput {
    return {
      params: state.params,
      outputs: state.outputs,
      targets: this.deps.targets,
      log: stepLogger(this.deps.logger, { runId: state.run.id, step: step.name }),
      run: { id: state.run.id, incidentId: state.run.incidentId, dryRun: state.run.dryRun, requestedBy: state.run.requestedBy },
    };
  }

  private async step(state: State): Promise<Next> {
    const { run, steps } = state;
    if (run.abortRequested) {
      await this.finish(run, "aborted", `aborted by ${run.abortRequested}`, run.abortRequested);
      return "stop";
    }
    const inFlight = steps.find((s) => IN_FLIGHT.has(s.status));
    if (inFlight) return this.recover(state, inFlight);
    const next = steps.find((s) => !FINISHED.has(s.status));
    if (!next) {
      await this.finish(run, run.dryRun ? "previewed" : "succeeded", null);
      return "stop";
    }
    const def = state.pb.steps[next.idx]!;
    let skip = false;
    try {
      skip = def.when !== null && !def.when({ params: state.params, outputs: state.outputs });
    } catch (err) {
      // A condition that throws is a playbook bug: the run stops here, saying so.
      await this.fail(run, next, `the when condition of ${next.name} failed: ${describeError(err)}`);
      return "stop";
    }
    if (skip) {
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, next.idx, { status: "skipped", finishedAt: now });
        return { events: [{ kind: "step.skipped", actor: "belay", surface: "engine", step: next.name, data: { reason: def.skipReason({ params: state.params, outputs: state.outputs }), by: "condition" } }] };
      });
      return "continue";
    }
    await this.phase("step.before", run.id, next);
    return def.kind === "act" ? this.act(state, next, def) : this.readOnly(state, next, def);
  }

  /** After a crash: read-only steps run again; a mutation that may have happened is never repeated. */
  private async recover(state: State, s: StepRecord): Promise<Next> {
    const { run } = state;
    if (s.kind !== "act") {
      await this.commit(run.id, async (tx) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "pending" });
        return { events: [{ kind: "step.resumed", actor: "belay", surface: "engine", step: s.name, data: { reason: "read-only step interrupted; running it again" } }] };
      });
      return "continue";
    }
    if (s.status === "verifying") {
      // The mutation finished and was recorded; only verify (read-only) was cut short.
      return this.verifyAndSettle(state, s, state.pb.steps[s.idx]!, s.output);
    }
    const what = s.status === "running" ? "its change may or may not have been applied" : "its rollback may or may not have been applied";
    await this.block(run, s, "uncertain", "awaiting_decision", `step ${s.name} was interrupted: ${what}; choose retry, skip or abort`, {
      kind: "step.uncertain",
      actor: "belay",
      surface: "engine",
      step: s.name,
      data: { interrupted: s.status, attempts: s.attempts },
    });
    return "stop";
  }

  private async readOnly(state: State, s: StepRecord, def: StepDef): Promise<Next> {
    const { run } = state;
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "running", attempts: s.attempts + 1, startedAt: s.startedAt ?? now, error: null });
      return { events: [{ kind: "step.started", actor: "belay", surface: "engine", step: s.name, data: { kind: s.kind, attempt: s.attempts + 1 } }] };
    });
    const input = this.ctxInput(state, s);
    let output: unknown;
    try {
      if (def.kind === "diagnose") {
        output = await withTimeout(`step ${s.name}`, def.timeoutMs, (signal) => def.run!(makeContext(input, signal, "read")));
      } else if (def.kind === "notify") {
        const message = def.message!({ params: state.params, outputs: state.outputs });
        await withTimeout(`step ${s.name}`, def.timeoutMs, () => this.deps.notify?.({ id: run.id, incidentId: run.incidentId }, message));
        output = { message };
      } else {
        output = await this.waitUntil(state, s, def, input);
      }
    } catch (err) {
      const reason = `step ${s.name} failed: ${describeError(err)}`;
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: describeError(err), finishedAt: now });
        await this.runUpdate(tx, run.id, { status: "failed", statusReason: reason, leaseOwner: null, leaseExpiresAt: null }, now);
        return {
          events: [
            { kind: "step.failed", actor: "belay", surface: "engine", step: s.name, data: { error: describeError(err) } },
            { kind: "run.failed", actor: "belay", surface: "engine", data: { reason } },
          ],
        };
      });
      return "stop";
    }
    const stored = jsonRoundTrip(redact(output));
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "succeeded", output: stored, finishedAt: now });
      const events: AuditInput[] = [{ kind: "step.succeeded", actor: "belay", surface: "engine", step: s.name, data: outputDigest(stored) }];
      if (def.kind === "notify") events.push({ kind: "notify.sent", actor: "belay", surface: "engine", step: s.name, data: { message: (stored as { message: string }).message } });
      return { events };
    });
    await this.phase("step.after", run.id, s);
    return "continue";
  }

  private async waitUntil(state: State, s: StepRecord, def: StepDef, input: ContextInput): Promise<{ waitedMs: number }> {
    const started = (s.startedAt ?? this.deps.clock()).getTime();
    for (;;) {
      const held = await withTimeout(`step ${s.name} condition`, Math.min(def.intervalMs * 4, def.timeoutMs), (signal) => def.until!(makeContext(input, signal, "read")));
      const waited = this.deps.clock().getTime() - started;
      if (held) return { waitedMs: waited };
      if (waited >= def.timeoutMs) throw new Error(`condition not met within ${def.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, Math.min(def.intervalMs, def.timeoutMs - waited)));
      const run = await getRun(this.deps.db, state.run.id);
      if (run?.abortRequested) throw new Error(`aborted by ${run.abortRequested} while waiting`);
    }
  }

  /** Computes previews for this act step and later ones whose inputs are known; re-hashes the plan if any changed. */
  private async preview(state: State, from: StepRecord): Promise<{ ok: true; planHash: string } | { ok: false; error: string }> {
    const { run, pb } = state;
    const previews = new Map<number, string>();
    const fresh: { idx: number; name: string; text: string; data: unknown }[] = [];
    for (const s of state.steps) {
      if (s.preview !== null) previews.set(s.idx, s.preview);
      if (s.kind !== "act" || s.idx < from.idx || s.preview !== null || FINISHED.has(s.status)) continue;
      const def = pb.steps[s.idx]!;
      const known = knownOutputs(state.outputs, state.finished);
      const input = { ...this.ctxInput(state, s), outputs: known };
      try {
        // A later step its own condition will skip is not previewed (a preview may call a target).
        if (s.idx > from.idx && def.when && !def.when({ params: state.params, outputs: known })) continue;
        const value = await withTimeout(`preview of ${s.name}`, def.timeoutMs, (signal) => def.preview!(makeContext(input, signal, "preview")));
        const p = normalisePreview(value);
        const text = redact(p.text);
        previews.set(s.idx, text);
        fresh.push({ idx: s.idx, name: s.name, text, data: jsonRoundTrip(redact(p.data)) });
      } catch (err) {
        if (err instanceof NotYetKnown) continue; // shown once the outputs it reads exist
        if (s.idx === from.idx) return { ok: false, error: `the preview of ${s.name} failed: ${describeError(err)}` };
        this.deps.logger.warn({ runId: run.id, step: s.name, err: describeError(err) }, "preview of a later step failed; it will be retried when the step comes up");
      }
    }
    if (fresh.length === 0) return { ok: true, planHash: run.planHash };
    const plan = buildPlan(pb, run.params, previews);
    await this.commit(run.id, async (tx, _r, now) => {
      for (const f of fresh) await this.stepUpdate(tx, run.id, f.idx, { preview: f.text, previewData: f.data });
      await this.runUpdate(tx, run.id, { planHash: plan.hash }, now);
      return {
        events: fresh.map((f) => ({ kind: "step.previewed", actor: "belay", surface: "engine", step: f.name, data: { preview: f.text, planHash: plan.hash } })),
      };
    });
    for (const f of fresh) {
      const rec = state.steps.find((x) => x.idx === f.idx)!;
      rec.preview = f.text;
      rec.previewData = f.data;
    }
    return { ok: true, planHash: plan.hash };
  }

  private async act(state: State, s: StepRecord, def: StepDef): Promise<Next> {
    const { run } = state;
    const previewed = await this.preview(state, s);
    if (!previewed.ok) {
      await this.fail(run, s, previewed.error);
      return "stop";
    }
    if (run.dryRun) {
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "previewed", finishedAt: now });
        return { events: [] };
      });
      return "continue";
    }
    const now = this.deps.clock();
    const verdict = evaluateApprovals({
      policy: this.deps.policy,
      risk: def.risk!,
      requester: run.requestedBy,
      planHash: previewed.planHash,
      approvals: await getApprovals(this.deps.db, run.id, s.idx),
      now,
    });
    if (!verdict.satisfied) {
      const need = verdict.required - verdict.counted.length;
      const events: AuditInput[] = [];
      // Approvals on record that no longer count (expired, for an older plan) are audited as such.
      if (verdict.ignored.length > 0) {
        events.push({ kind: "approval.expired", actor: "belay", surface: "engine", step: s.name, data: { ignored: verdict.ignored, planHash: previewed.planHash } });
      }
      // Surfaces re-render from events: the moment a run starts waiting on people is one.
      events.push({
        kind: "step.awaiting_approval",
        actor: "belay",
        surface: "engine",
        step: s.name,
        data: { risk: def.risk, required: verdict.required, approvers: verdict.counted, planHash: previewed.planHash },
      });
      await this.block(run, s, "awaiting_approval", "awaiting_approval", `step ${s.name} (${def.risk} risk) needs ${need} more approval${need === 1 ? "" : "s"}`, events);
      return "stop";
    }
    let lockKeys: string[];
    try {
      lockKeys = def.locks ? [...def.locks({ params: state.params, outputs: state.outputs })] : [];
    } catch (err) {
      await this.fail(run, s, `the locks of ${s.name} could not be computed: ${describeError(err)}`);
      return "stop";
    }
    if (lockKeys.length > 0) {
      const got = await this.takeLocks(run, lockKeys);
      if (!got.ok) {
        const reason = `waiting for ${got.heldBy.target}, held by run ${got.heldBy.runId}`;
        await this.commit(run.id, async (tx, r, at) => {
          await this.runUpdate(tx, run.id, { status: "waiting", statusReason: reason, nextAt: new Date(at.getTime() + 1000), leaseOwner: null, leaseExpiresAt: null }, at);
          return { events: r.statusReason === reason ? [] : [{ kind: "lock.waited", actor: "belay", surface: "engine", step: s.name, data: got.heldBy }] };
        });
        return "stop";
      }
    }
    await this.commit(run.id, async (tx, _r, at) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "running", attempts: s.attempts + 1, startedAt: at, error: null });
      await this.runUpdate(tx, run.id, { statusReason: null }, at);
      return {
        events: [{ kind: "step.started", actor: "belay", surface: "engine", step: s.name, data: { risk: def.risk, approvedBy: verdict.counted, planHash: previewed.planHash, locks: lockKeys, attempt: s.attempts + 1 } }],
      };
    });
    await this.phase("act.started", run.id, s);
    const input = this.ctxInput(state, s);
    let result: unknown;
    try {
      result = await withTimeout(`step ${s.name}`, def.timeoutMs, (signal) =>
        def.run!({ ...makeContext(input, signal, "full"), preview: s.preview ?? "", previewData: s.previewData }),
      );
    } catch (err) {
      if (isBelayError(err, "step.timeout")) {
        await this.block(run, s, "uncertain", "awaiting_decision", `step ${s.name} timed out; its change may be partly applied: choose retry, skip or abort`, {
          kind: "step.uncertain",
          actor: "belay",
          surface: "engine",
          step: s.name,
          data: { reason: describeError(err) },
        });
      } else {
        await this.fail(run, s, `step ${s.name} failed: ${describeError(err)}`);
      }
      await releaseTargetLocks(this.deps.db, run.id);
      return "stop";
    }
    await this.phase("act.ran", run.id, s);
    const stored = jsonRoundTrip(redact(result));
    await this.commit(run.id, async (tx) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "verifying", output: stored });
      return { events: [{ kind: "step.executed", actor: "belay", surface: "engine", step: s.name, data: outputDigest(stored) }] };
    });
    await this.phase("act.recorded", run.id, s);
    return this.verifyAndSettle(state, s, def, stored);
  }

  private async verifyAndSettle(state: State, s: StepRecord, def: StepDef, result: unknown): Promise<Next> {
    const { run } = state;
    const input = this.ctxInput(state, s);
    let verdict: { ok: boolean; detail: string | null };
    try {
      verdict = normaliseVerify(await withTimeout(`verify of ${s.name}`, def.verifyTimeoutMs, (signal) => def.verify!({ ...makeContext(input, signal, "read"), result })));
    } catch (err) {
      verdict = { ok: false, detail: describeError(err) };
    }
    if (verdict.ok) {
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "succeeded", finishedAt: now });
        return {
          events: [
            { kind: "step.verified", actor: "belay", surface: "engine", step: s.name, data: { detail: verdict.detail } },
            { kind: "step.succeeded", actor: "belay", surface: "engine", step: s.name, data: {} },
          ],
        };
      });
      await releaseTargetLocks(this.deps.db, run.id);
      await this.phase("step.after", run.id, s);
      return "continue";
    }
    const detail = verdict.detail ?? "verify returned false";
    if (!def.rollback) {
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: `verify failed: ${detail}`, finishedAt: now });
        await this.runUpdate(tx, run.id, { status: "failed", statusReason: `verify of ${s.name} failed (${detail}); the step is irreversible: ${def.irreversible}`, leaseOwner: null, leaseExpiresAt: null }, now);
        return {
          events: [
            { kind: "step.verify_failed", actor: "belay", surface: "engine", step: s.name, data: { detail } },
            { kind: "run.failed", actor: "belay", surface: "engine", data: { reason: `verify of ${s.name} failed; no rollback (${def.irreversible})` } },
          ],
        };
      });
      await releaseTargetLocks(this.deps.db, run.id);
      return "stop";
    }
    await this.commit(run.id, async (tx) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "rolling_back", error: `verify failed: ${detail}` });
      return { events: [{ kind: "step.verify_failed", actor: "belay", surface: "engine", step: s.name, data: { detail, rollingBack: true } }] };
    });
    try {
      await withTimeout(`rollback of ${s.name}`, def.timeoutMs, (signal) => def.rollback!({ ...makeContext(input, signal, "full"), result }));
    } catch (err) {
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: `verify failed (${detail}); rollback failed: ${describeError(err)}`, finishedAt: now });
        await this.runUpdate(tx, run.id, { status: "failed", statusReason: `rollback of ${s.name} failed: ${describeError(err)}; check the target by hand`, leaseOwner: null, leaseExpiresAt: null }, now);
        return {
          events: [
            { kind: "step.rollback_failed", actor: "belay", surface: "engine", step: s.name, data: { error: describeError(err) } },
            { kind: "run.failed", actor: "belay", surface: "engine", data: { reason: `rollback of ${s.name} failed` } },
          ],
        };
      });
      await releaseTargetLocks(this.deps.db, run.id);
      return "stop";
    }
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "rolled_back", finishedAt: now });
      await this.runUpdate(tx, run.id, { status: "rolled_back", statusReason: `verify of ${s.name} failed (${detail}); rolled back`, leaseOwner: null, leaseExpiresAt: null }, now);
      return {
        events: [
          { kind: "step.rolled_back", actor: "belay", surface: "engine", step: s.name, data: { detail } },
          { kind: "run.rolled_back", actor: "belay", surface: "engine", data: { step: s.name } },
        ],
      };
    });
    await releaseTargetLocks(this.deps.db, run.id);
    return "stop";
  }

  private async takeLocks(run: RunRecord, keys: string[]): Promise<Awaited<ReturnType<typeof acquireTargetLocks>>> {
    const now = this.deps.clock();
    const until = new Date(now.getTime() + this.leaseMs);
    try {
      return await this.deps.db.transaction(async (tx) => {
        const r = await acquireTargetLocks(tx, { runId: run.id, owner: this.deps.owner, targets: keys, now, until });
        if (!r.ok) throw Object.assign(new Error("lock busy"), { busy: r });
        return r;
      });
    } catch (err) {
      const busy = (err as { busy?: Awaited<ReturnType<typeof acquireTargetLocks>> }).busy;
      if (busy) return busy; // the transaction rolled back: no partial set of locks is kept
      throw err;
    }
  }

  /** Parks the run: the step waits for humans, and the lease is given up. */
  private async block(run: RunRecord, s: StepRecord, stepStatus: StepRecord["status"], runStatus: RunStatus, reason: string, events: AuditInput | AuditInput[]): Promise<void> {
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: stepStatus });
      await this.runUpdate(tx, run.id, { status: runStatus, statusReason: reason, leaseOwner: null, leaseExpiresAt: null }, now);
      return { events: Array.isArray(events) ? events : [events] };
    });
  }

  private async fail(run: RunRecord, s: StepRecord, reason: string): Promise<void> {
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: reason, finishedAt: now });
      await this.runUpdate(tx, run.id, { status: "failed", statusReason: reason, leaseOwner: null, leaseExpiresAt: null }, now);
      return {
        events: [
          { kind: "step.failed", actor: "belay", surface: "engine", step: s.name, data: { error: reason } },
          { kind: "run.failed", actor: "belay", surface: "engine", data: { reason } },
        ],
      };
    });
  }

  private async finish(run: RunRecord, status: RunStatus, reason: string | null, actor = "belay"): Promise<void> {
    const kind = status === "succeeded" ? "run.succeeded" : status === "previewed" ? "run.previewed" : status === "aborted" ? "run.aborted" : "run.failed";
    await this.commit(run.id, async (tx, _r, now) => {
      await this.runUpdate(tx, run.id, { status, statusReason: reason, leaseOwner: null, leaseExpiresAt: null }, now);
      return { events: [{ kind, actor, surface: "engine", data: reason ? { reason } : {} }] };
    });
    await releaseTargetLocks(this.deps.db, run.id);
    this.secrets.delete(run.id);
  }

  private async phase(phase: Parameters<NonNullable<EngineDeps["onPhase"]>>[0], runId: string, s: StepRecord): Promise<void> {
    await this.deps.onPhase?.(phase, { runId, step: s.name, idx: s.idx });
  }
}
