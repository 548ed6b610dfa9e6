import { evaluateApprovals } from "../approve/policy.ts";
import { canonicalJson, sha256Hex } from "../audit/canonical.ts";
import { eventBody, rowToEvent } from "../audit/chain.ts";
import type { AuditInput } from "../audit/events.ts";
import { redact, redactText, REDACTED } from "../audit/redact.ts";
import { BelayError, describeError, isBelayError } from "../errors.ts";
import { buildPlan, playbookFingerprint } from "../plan/plan.ts";
import { secretParamNames } from "../plan/bind.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { StepDef } from "../sdk/types.ts";
import {
  getApprovalsAt,
  getRun,
  getRunSecrets,
  getSteps,
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
import { actGate, afterMutation, afterVerify, nextAction, SETTLED, type RunOutcome } from "./decider.ts";
import type { EngineDeps } from "./deps.ts";
import { Lease } from "./lease.ts";
import { unseal, seal } from "./secrets.ts";
import { storable } from "./storable.ts";

type Next = "continue" | "stop";

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

/**
 * Params whose stored copy had to be redacted, held in this process's memory for runs it
 * proposed when no BELAY_SECRET_KEY is set (with a key they are sealed in the store instead).
 */
export type SecretCache = Map<string, Record<string, unknown>>;

/** A target lock another unfinished run holds: the step cannot start (or be recovered) yet. */
class LockBusy extends Error {
  constructor(readonly heldBy: { target: string; runId: string }) {
    super(`target ${heldBy.target} is locked by run ${heldBy.runId}`);
  }
}
/** The commit was refused because a person asked for the run to stop. */
class AbortPending extends Error {}

interface CommitOpts {
  /** Target locks to take (or re-take, under this lease's epoch) in the same commit. */
  acquire?: readonly string[];
  /** Give the run's target locks back in the same commit (its step settled). */
  release?: boolean;
}

interface Mirror {
  run: RunRecord;
  steps: StepRecord[];
  /** The run's params as steps get them (secret and credential-bearing values unsealed). */
  params?: Record<string, unknown>;
  /** Raw outputs of steps whose stored copy differs (redacted or escaped), by step index. */
  raw: Map<number, unknown>;
}

interface State {
  run: RunRecord;
  steps: StepRecord[];
  pb: AnyPlaybook;
  params: Record<string, unknown>;
  outputs: Record<string, unknown>;
  finished: Set<string>;
  lease: Lease;
  mirror: Mirror;
}

/**
 * The fenced executor: works a claimed run by asking the decider (decider.ts) what comes
 * next and carrying it out. Every write goes through `belay_runner_commit` with this lease's
 * epoch; every step gets the lease's signal.
 */
export class Runner {
  constructor(
    private readonly deps: EngineDeps,
    private readonly secrets: SecretCache,
  ) {}

  private get leaseMs(): number {
    return this.deps.leaseMs ?? 30_000;
  }

  private readonly mirrors = new Map<string, Mirror>();
  private readonly leases = new Map<string, Lease>();
  private readonly pending = new Map<string, { steps: [number, StepPatch][]; run: RunPatch[] }>();

  /** Works a claimed run until it finishes or blocks (approval, decision, lock, lost lease). */
  async process(runId: string, previousStatus: RunStatus, epoch: number): Promise<void> {
    const lease = new Lease(this.deps, runId, epoch, this.leaseMs);
    this.leases.set(runId, lease);
    try {
      if (previousStatus === "running") {
        await this.commit(runId, async () => ({ events: [{ kind: "run.resumed", actor: "belay", surface: "engine", data: { owner: this.deps.owner, epoch, reason: "the previous owner stopped renewing its lease" } }] }));
      }
      for (;;) {
        if (lease.lost) return;
        const state = await this.load(runId, lease);
        if (!state) return;
        try {
          if ((await this.step(state)) === "stop") return;
        } catch (err) {
          if (!(err instanceof AbortPending)) throw err;
          // Refused in the commit: the mirror is dropped, the next load sees the abort request.
        }
      }
    } catch (err) {
      if (isBelayError(err, "lease.lost")) {
        this.deps.logger.warn({ runId, err: describeError(err) }, "lease lost; another process has the run");
        return;
      }
      // Left `running`: when the lease runs out, any process picks the run up and recovers it.
      this.deps.logger.error({ runId, err }, "run processing failed; it will be recovered when its lease expires");
    } finally {
      lease.stop();
      this.leases.delete(runId);
      this.mirrors.delete(runId);
    }
  }

  /** Records a step change for the commit in progress (see `commit`). */
  private async stepUpdate(_tx: Queryable, runId: string, idx: number, patch: StepPatch): Promise<void> {
    this.pending.get(runId)!.steps.push([idx, patch]);
  }

  /** Records a run change for the commit in progress (see `commit`). */
  private async runUpdate(_tx: Queryable, runId: string, patch: RunPatch, _now: Date): Promise<void> {
    this.pending.get(runId)!.run.push(patch);
  }

  private async mirror(runId: string): Promise<Mirror | null> {
    let mirror = this.mirrors.get(runId);
    if (!mirror) {
      const fresh = await getRun(this.deps.db, runId);
      if (!fresh) return null;
      mirror = { run: fresh, steps: await getSteps(this.deps.db, runId), raw: new Map() };
      this.mirrors.set(runId, mirror);
    }
    return mirror;
  }

  /**
   * One runner commit, in one round trip: `fn` says what changes (step and run patches,
   * audit events) and `belay_runner_commit` applies it atomically, refusing when this
   * process's lease (owner and epoch) is no longer current, when a step would start after an
   * abort was requested, or when a lock to take is held by another unfinished run. What is
   * stored is redacted (errors, reasons, events) and made storable (NUL, lone surrogates).
   */
  private async commit(runId: string, fn: CommitFn<unknown>, opts: CommitOpts = {}): Promise<unknown> {
    const lease = this.leases.get(runId);
    if (!lease) throw new BelayError("lease.lost", `run ${runId} is not leased to this process`);
    const mirror = await this.mirror(runId);
    if (!mirror) throw new BelayError("run.not_found", `no run ${runId}`);
    const pending = { steps: [] as [number, StepPatch][], run: [] as RunPatch[] };
    this.pending.set(runId, pending);
    try {
      const now = this.deps.clock();
      const out = await fn(NO_TX, mirror.run, now);
      const at = now.toISOString();
      const rows = out.events.map((e) => {
        const data = storable(redact(e.data ?? {}));
        return {
          id: this.deps.newId("evt"),
          at,
          kind: e.kind,
          actor: e.actor,
          surface: e.surface,
          run_id: e.runId ?? runId,
          incident_id: e.incidentId ?? mirror.run.incidentId,
          step: e.step ?? null,
          data: canonicalJson(data.escaped ? { ...data.value, unstorableEscaped: true } : data.value),
        };
      });
      const steps = pending.steps.map(([idx, patch]) => {
        const p = patch.error ? { ...patch, error: redactText(patch.error) } : patch;
        return [idx, storable(p).value] as [number, StepPatch];
      });
      const runPatch: RunPatch = Object.assign({}, ...pending.run);
      if (runPatch.statusReason) runPatch.statusReason = storable(redactText(runPatch.statusReason)).value;
      const payload: Record<string, unknown> = {
        run: runId,
        owner: this.deps.owner,
        epoch: lease.epoch,
        now: at,
        steps: steps.map(([idx, patch]) => ({ idx, patch: jsonPatch(patch) })),
        run_patch: jsonPatch(runPatch),
        events: rows.map((r) => ({ ...r, body: eventBody(r) })),
      };
      if (opts.acquire && opts.acquire.length > 0) payload.acquire = [...opts.acquire];
      if (opts.release) payload.release = true;
      let result: { run: Record<string, unknown>; events: { seq: number; prev: string; hash: string }[] };
      try {
        const r = await this.deps.db.query<{ r: typeof result }>("SELECT belay_runner_commit($1::jsonb) AS r", [JSON.stringify(payload)]);
        result = r.rows[0]!.r;
      } catch (err) {
        const code = (err as { code?: string }).code;
        const message = (err as Error).message;
        if (code === "BL001") {
          lease.lose(message);
          throw new BelayError("lease.lost", message, { cause: err });
        }
        if (code === "BL002") throw new AbortPending(message);
        if (code === "BL003") {
          const m = /target (.*) is locked by run (\S+)/.exec(message);
          throw new LockBusy({ target: m?.[1] ?? "?", runId: m?.[2] ?? "?" });
        }
        throw err;
      }
      mirror.run = runFromJson(result.run);
      for (const [idx, patch] of steps) {
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
      if (!(err instanceof LockBusy)) this.mirrors.delete(runId); // unknown state: read it again if we go on
      throw err;
    } finally {
      this.pending.delete(runId);
    }
  }

  private async load(runId: string, lease: Lease): Promise<State | null> {
    const mirror = await this.mirror(runId);
    if (!mirror) return null;
    const { run, steps } = mirror;
    if (run.leaseOwner !== this.deps.owner || run.leaseEpoch !== lease.epoch || run.status !== "running") return null;
    const pb = this.deps.playbooks.get(run.playbookId);
    if (!pb) {
      await this.finish(run, "failed", `playbook ${run.playbookId} is not loaded in this belay; it may have been removed`);
      return null;
    }
    if (playbookFingerprint(pb) !== run.playbookFingerprint) {
      await this.finish(run, "failed", `playbook ${run.playbookId} changed since this run was proposed; propose a new run to review the new plan`);
      return null;
    }
    if (!mirror.params) {
      const params = { ...run.params, ...(await this.unsealedParams(run)) };
      const missing = [...secretParamNames(pb.params)].filter((k) => params[k] === REDACTED);
      if (missing.length > 0) {
        await this.finish(run, "failed", `secret param(s) ${missing.join(", ")} are not stored and this process does not hold them; propose the run again`);
        return null;
      }
      mirror.params = params;
    }
    const outputs: Record<string, unknown> = {};
    const finished = new Set<string>();
    for (const s of steps) {
      if (s.status === "succeeded") outputs[s.name] = this.rawOutput(mirror, s);
      if (SETTLED.has(s.status)) finished.add(s.name);
    }
    return { run, steps, pb, params: mirror.params, outputs, finished, lease, mirror };
  }

  /** Params whose stored copy is redacted: sealed in the store, or (no key) held by the proposing process. */
  private async unsealedParams(run: RunRecord): Promise<Record<string, unknown>> {
    const held = this.secrets.get(run.id);
    if (held) return held;
    if (!JSON.stringify(run.params).includes(REDACTED)) return {};
    const sealed = await getRunSecrets(this.deps.db, run.id);
    if (!sealed || !this.deps.keyring) return {};
    return unseal(this.deps.keyring, sealed) as Record<string, unknown>;
  }

  /** What a later step reads of an earlier step's output: the raw value, never the redacted copy. */
  private rawOutput(mirror: Mirror, s: StepRecord): unknown {
    if (mirror.raw.has(s.idx)) return mirror.raw.get(s.idx);
    if (s.sealedOutput && this.deps.keyring) {
      const raw = unseal(this.deps.keyring, s.sealedOutput);
      mirror.raw.set(s.idx, raw);
      return raw;
    }
    return s.output ?? undefined;
  }

  /**
   * The stored copy of an output (redacted, storable) and, when it differs from the raw
   * value, the raw value sealed for whichever process carries the run on.
   */
  private storedOutput(state: State, idx: number, value: unknown): { raw: unknown; stored: unknown; patch: StepPatch; escaped: boolean } {
    const raw = jsonRoundTrip(value);
    const { value: stored, escaped } = storable(redact(raw));
    const patch: StepPatch = { output: stored };
    if (JSON.stringify(stored) !== JSON.stringify(raw)) {
      state.mirror.raw.set(idx, raw);
      if (this.deps.keyring) patch.sealedOutput = seal(this.deps.keyring, raw);
    }
    return { raw, stored, patch, escaped };
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
    const action = nextAction(run, steps);
    switch (action.do) {
      case "finish":
        await this.finish(run, action.status, action.reason, action.actor);
        return "stop";
      case "rerun":
        await this.commit(run.id, async (tx) => {
          await this.stepUpdate(tx, run.id, action.step.idx, { status: "pending" });
          return { events: [{ kind: "step.resumed", actor: "belay", surface: "engine", step: action.step.name, data: { reason: "read-only step interrupted; running it again" } }] };
        });
        return "continue";
      case "reverify":
      case "uncertain":
        return this.recover(state, steps.find((s) => s.idx === action.step.idx)!, action.do);
      case "await_decision": {
        const s = steps.find((x) => x.idx === action.step.idx)!;
        await this.block(run, s, "uncertain", "awaiting_decision", `step ${s.name} is uncertain: choose retry, skip or abort`, []);
        return "stop";
      }
      case "start":
        break;
    }
    const next = steps.find((s) => s.idx === action.step.idx)!;
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
        return { events: [{ kind: "step.skipped", actor: "belay", surface: "engine", step: next.name, data: { reason: "its when condition is false" } }] };
      });
      return "continue";
    }
    await this.phase("step.before", run.id, next);
    return def.kind === "act" ? this.act(state, next, def) : this.readOnly(state, next, def);
  }

  /**
   * After a crash, an act step found in flight: its target locks are re-taken under this
   * lease's epoch (or waited for) before anything else. Then a recorded change is verified
   * (and rolled back); a change or rollback that may or may not have happened is never
   * repeated: the step becomes uncertain, still holding its locks, and a person decides.
   */
  private async recover(state: State, s: StepRecord, how: "reverify" | "uncertain"): Promise<Next> {
    const { run } = state;
    const def = state.pb.steps[s.idx]!;
    let keys: string[];
    try {
      keys = this.lockKeys(state, def);
    } catch (err) {
      if (how === "reverify") {
        await this.fail(run, s, `the locks of ${s.name} could not be computed: ${describeError(err)}`);
        return "stop";
      }
      keys = [];
    }
    try {
      if (how === "reverify") {
        await this.commit(
          run.id,
          async () => ({ events: keys.length ? [{ kind: "lock.retaken", actor: "belay", surface: "engine", step: s.name, data: { locks: keys, epoch: state.lease.epoch } }] : [] }),
          { acquire: keys },
        );
        // The mutation finished and was recorded; only verify (read-only) was cut short.
        return this.verifyAndSettle(state, s, def, this.rawOutput(state.mirror, s));
      }
      const what = s.status === "running" ? "its change may or may not have been applied" : "its rollback may or may not have been applied";
      await this.block(
        run,
        s,
        "uncertain",
        "awaiting_decision",
        `step ${s.name} was interrupted: ${what}; choose retry, skip or abort`,
        { kind: "step.uncertain", actor: "belay", surface: "engine", step: s.name, data: { interrupted: s.status, attempts: s.attempts, locks: keys } },
        { acquire: keys },
      );
      return "stop";
    } catch (err) {
      if (err instanceof LockBusy) return this.waitForLock(run, s, err.heldBy);
      throw err;
    }
  }

  private lockKeys(state: State, def: StepDef): string[] {
    return def.locks ? [...def.locks({ params: state.params, outputs: state.outputs })] : [];
  }

  private async readOnly(state: State, s: StepRecord, def: StepDef): Promise<Next> {
    const { run, lease } = state;
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "running", attempts: s.attempts + 1, startedAt: s.startedAt ?? now, error: null });
      return { events: [{ kind: "step.started", actor: "belay", surface: "engine", step: s.name, data: { kind: s.kind, attempt: s.attempts + 1 } }] };
    });
    const input = this.ctxInput(state, s);
    let output: unknown;
    try {
      if (def.kind === "diagnose") {
        output = await withTimeout(`step ${s.name}`, def.timeoutMs, (signal) => def.run!(makeContext(input, signal)), lease.signal);
      } else if (def.kind === "notify") {
        const message = def.message!({ params: state.params, outputs: state.outputs });
        // The message leaves the engine: what is delivered is redacted, like what is stored.
        await withTimeout(`step ${s.name}`, def.timeoutMs, () => this.deps.notify?.({ id: run.id, incidentId: run.incidentId }, redactText(message)), lease.signal);
        output = { message };
      } else {
        output = await this.waitUntil(state, s, def, input);
      }
    } catch (err) {
      if (lease.lost) return "stop"; // the new owner runs it again
      const reason = `step ${s.name} failed: ${describeError(err)}`;
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: describeError(err), finishedAt: now });
        await this.runUpdate(tx, run.id, { status: "failed", statusReason: reason, leaseOwner: null }, now);
        return {
          events: [
            { kind: "step.failed", actor: "belay", surface: "engine", step: s.name, data: { error: describeError(err) } },
            { kind: "run.failed", actor: "belay", surface: "engine", data: { reason } },
          ],
        };
      });
      return "stop";
    }
    const out = this.storedOutput(state, s.idx, output);
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "succeeded", ...out.patch, finishedAt: now });
      const events: AuditInput[] = [{ kind: "step.succeeded", actor: "belay", surface: "engine", step: s.name, data: { ...outputDigest(out.stored), ...(out.escaped ? { unstorableEscaped: true } : {}) } }];
      if (def.kind === "notify") events.push({ kind: "notify.sent", actor: "belay", surface: "engine", step: s.name, data: { message: (out.stored as { message: string }).message } });
      return { events };
    });
    await this.phase("step.after", run.id, s);
    return "continue";
  }

  private async waitUntil(state: State, s: StepRecord, def: StepDef, input: ContextInput): Promise<{ waitedMs: number }> {
    const started = (s.startedAt ?? this.deps.clock()).getTime();
    for (;;) {
      const held = await withTimeout(`step ${s.name} condition`, Math.min(def.intervalMs * 4, def.timeoutMs), (signal) => def.until!(makeContext(input, signal)), state.lease.signal);
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
      if (s.kind !== "act" || s.idx < from.idx || s.preview !== null || SETTLED.has(s.status)) continue;
      const def = pb.steps[s.idx]!;
      const known = knownOutputs(state.outputs, state.finished);
      const input = { ...this.ctxInput(state, s), outputs: known };
      try {
        // A later step its own condition will skip is not previewed (a preview may call a target).
        if (s.idx > from.idx && def.when && !def.when({ params: state.params, outputs: known })) continue;
        const value = await withTimeout(`preview of ${s.name}`, def.timeoutMs, (signal) => def.preview!(makeContext(input, signal)), state.lease.signal);
        const p = normalisePreview(value);
        const text = storable(redact(p.text)).value;
        previews.set(s.idx, text);
        fresh.push({ idx: s.idx, name: s.name, text, data: storable(jsonRoundTrip(redact(p.data))).value });
      } catch (err) {
        if (state.lease.lost) throw state.lease.signal.reason;
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
    const { run, lease } = state;
    const previewed = await this.preview(state, s);
    if (!previewed.ok) {
      await this.fail(run, s, previewed.error);
      return "stop";
    }
    // Approvals are judged on the database's clock (read with them, in one round trip).
    const { approvals, dbNow } = await getApprovalsAt(this.deps.db, run.id, s.idx);
    const verdict = evaluateApprovals({ policy: this.deps.policy, risk: def.risk!, requester: run.requestedBy, planHash: previewed.planHash, approvals, now: dbNow });
    const gate = actGate({ dryRun: run.dryRun, approved: verdict.satisfied });
    if (gate === "preview_only") {
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "previewed", finishedAt: now });
        return { events: [] };
      });
      return "continue";
    }
    if (gate === "await_approval") {
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
      lockKeys = this.lockKeys(state, def);
    } catch (err) {
      await this.fail(run, s, `the locks of ${s.name} could not be computed: ${describeError(err)}`);
      return "stop";
    }
    // The locks are taken in the same commit that marks the step running: the database
    // refuses both when another unfinished run holds a lock, or when an abort was requested.
    try {
      await this.commit(
        run.id,
        async (tx, _r, at) => {
          await this.stepUpdate(tx, run.id, s.idx, { status: "running", attempts: s.attempts + 1, startedAt: at, error: null });
          await this.runUpdate(tx, run.id, { statusReason: null }, at);
          return {
            events: [{ kind: "step.started", actor: "belay", surface: "engine", step: s.name, data: { risk: def.risk, approvedBy: verdict.counted, planHash: previewed.planHash, locks: lockKeys, attempt: s.attempts + 1 } }],
          };
        },
        { acquire: lockKeys },
      );
    } catch (err) {
      if (err instanceof LockBusy) return this.waitForLock(run, s, err.heldBy);
      throw err;
    }
    await this.phase("act.started", run.id, s);
    const input = this.ctxInput(state, s);
    let result: unknown;
    let outcome: RunOutcome = "returned";
    let error: unknown = null;
    try {
      result = await withTimeout(
        `step ${s.name}`,
        def.timeoutMs,
        (signal) => def.run!({ ...makeContext(input, signal), preview: s.preview ?? "", previewData: s.previewData }),
        lease.signal,
      );
    } catch (err) {
      error = err;
      outcome = lease.lost ? "lease_lost" : isBelayError(err, "step.timeout") ? "timed_out" : "threw";
    }
    const next = afterMutation(outcome);
    if (outcome === "lease_lost") return "stop"; // nothing more is ours to write; the new owner recovers the step
    if (outcome === "timed_out") {
      // Its mutation may still be running: uncertain, and the target locks stay held.
      await this.block(run, s, next.step!, next.runStatus!, `step ${s.name} timed out; its change may be partly applied: choose retry, skip or abort`, {
        kind: "step.uncertain",
        actor: "belay",
        surface: "engine",
        step: s.name,
        data: { reason: describeError(error), locksKept: lockKeys },
      });
      return "stop";
    }
    if (outcome === "threw") {
      await this.fail(run, s, `step ${s.name} failed: ${describeError(error)}`);
      return "stop";
    }
    await this.phase("act.ran", run.id, s);
    const out = this.storedOutput(state, s.idx, result);
    await this.commit(run.id, async (tx) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "verifying", ...out.patch });
      return { events: [{ kind: "step.executed", actor: "belay", surface: "engine", step: s.name, data: { ...outputDigest(out.stored), ...(out.escaped ? { unstorableEscaped: true } : {}) } }] };
    });
    await this.phase("act.recorded", run.id, s);
    return this.verifyAndSettle(state, s, def, out.raw);
  }

  /** Another unfinished run holds a lock: the run waits (lease given up) and tries again in a second. */
  private async waitForLock(run: RunRecord, s: StepRecord, heldBy: { target: string; runId: string }): Promise<Next> {
    const reason = `waiting for ${heldBy.target}, held by run ${heldBy.runId}`;
    await this.commit(run.id, async (tx, r, at) => {
      await this.runUpdate(tx, run.id, { status: "waiting", statusReason: reason, nextInMs: 1000, leaseOwner: null }, at);
      return { events: r.statusReason === reason ? [] : [{ kind: "lock.waited", actor: "belay", surface: "engine", step: s.name, data: heldBy }] };
    });
    return "stop";
  }

  private async verifyAndSettle(state: State, s: StepRecord, def: StepDef, result: unknown): Promise<Next> {
    const { run, lease } = state;
    const input = this.ctxInput(state, s);
    let verdict: { ok: boolean; detail: string | null };
    try {
      verdict = normaliseVerify(await withTimeout(`verify of ${s.name}`, def.verifyTimeoutMs, (signal) => def.verify!({ ...makeContext(input, signal), result }), lease.signal));
    } catch (err) {
      if (lease.lost) return "stop";
      verdict = { ok: false, detail: describeError(err) };
    }
    if (verdict.ok) {
      const settled = afterVerify(true, null);
      await this.commit(
        run.id,
        async (tx, _r, now) => {
          await this.stepUpdate(tx, run.id, s.idx, { status: settled.step, finishedAt: now });
          return {
            events: [
              { kind: "step.verified", actor: "belay", surface: "engine", step: s.name, data: { detail: verdict.detail } },
              { kind: "step.succeeded", actor: "belay", surface: "engine", step: s.name, data: {} },
            ],
          };
        },
        { release: !settled.keepLocks },
      );
      await this.phase("step.after", run.id, s);
      return "continue";
    }
    const detail = verdict.detail ?? "verify returned false";
    if (!def.rollback) {
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: `verify failed: ${detail}`, finishedAt: now });
        await this.runUpdate(tx, run.id, { status: "failed", statusReason: `verify of ${s.name} failed (${detail}); the step is irreversible: ${def.irreversible}`, leaseOwner: null }, now);
        return {
          events: [
            { kind: "step.verify_failed", actor: "belay", surface: "engine", step: s.name, data: { detail } },
            { kind: "run.failed", actor: "belay", surface: "engine", data: { reason: `verify of ${s.name} failed; no rollback (${def.irreversible})` } },
          ],
        };
      }, { release: true });
      return "stop";
    }
    await this.commit(run.id, async (tx) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "rolling_back", error: `verify failed: ${detail}` });
      return { events: [{ kind: "step.verify_failed", actor: "belay", surface: "engine", step: s.name, data: { detail, rollingBack: true } }] };
    });
    try {
      await withTimeout(`rollback of ${s.name}`, def.timeoutMs, (signal) => def.rollback!({ ...makeContext(input, signal), result }), lease.signal);
    } catch (err) {
      if (lease.lost) return "stop";
      const settled = afterVerify(false, isBelayError(err, "step.timeout") ? "timed_out" : "failed");
      if (settled.step === "uncertain") {
        await this.block(run, s, "uncertain", "awaiting_decision", `rollback of ${s.name} timed out; it may be partly applied: choose retry, skip or abort`, {
          kind: "step.uncertain",
          actor: "belay",
          surface: "engine",
          step: s.name,
          data: { interrupted: "rolling_back", reason: describeError(err) },
        });
        return "stop";
      }
      await this.commit(run.id, async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: `verify failed (${detail}); rollback failed: ${describeError(err)}`, finishedAt: now });
        await this.runUpdate(tx, run.id, { status: "failed", statusReason: `rollback of ${s.name} failed: ${describeError(err)}; check the target by hand`, leaseOwner: null }, now);
        return {
          events: [
            { kind: "step.rollback_failed", actor: "belay", surface: "engine", step: s.name, data: { error: describeError(err) } },
            { kind: "run.failed", actor: "belay", surface: "engine", data: { reason: `rollback of ${s.name} failed` } },
          ],
        };
      }, { release: true });
      return "stop";
    }
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "rolled_back", finishedAt: now });
      await this.runUpdate(tx, run.id, { status: "rolled_back", statusReason: `verify of ${s.name} failed (${detail}); rolled back`, leaseOwner: null }, now);
      return {
        events: [
          { kind: "step.rolled_back", actor: "belay", surface: "engine", step: s.name, data: { detail } },
          { kind: "run.rolled_back", actor: "belay", surface: "engine", data: { step: s.name } },
        ],
      };
    }, { release: true });
    return "stop";
  }

  /** Parks the run: the step waits for humans, and the lease is given up (target locks are kept). */
  private async block(
    run: RunRecord,
    s: StepRecord,
    stepStatus: StepRecord["status"],
    runStatus: RunStatus,
    reason: string,
    events: AuditInput | AuditInput[],
    opts: CommitOpts = {},
  ): Promise<void> {
    await this.commit(
      run.id,
      async (tx, _r, now) => {
        await this.stepUpdate(tx, run.id, s.idx, { status: stepStatus });
        await this.runUpdate(tx, run.id, { status: runStatus, statusReason: reason, leaseOwner: null }, now);
        return { events: Array.isArray(events) ? events : [events] };
      },
      opts,
    );
  }

  private async fail(run: RunRecord, s: StepRecord, reason: string): Promise<void> {
    await this.commit(run.id, async (tx, _r, now) => {
      await this.stepUpdate(tx, run.id, s.idx, { status: "failed", error: reason, finishedAt: now });
      await this.runUpdate(tx, run.id, { status: "failed", statusReason: reason, leaseOwner: null }, now);
      return {
        events: [
          { kind: "step.failed", actor: "belay", surface: "engine", step: s.name, data: { error: reason } },
          { kind: "run.failed", actor: "belay", surface: "engine", data: { reason } },
        ],
      };
    }, { release: true });
  }

  /** Ends the run. The database releases its target locks and deletes its sealed secrets in the same commit. */
  private async finish(run: RunRecord, status: RunStatus, reason: string | null, actor = "belay"): Promise<void> {
    const kind = status === "succeeded" ? "run.succeeded" : status === "previewed" ? "run.previewed" : status === "aborted" ? "run.aborted" : "run.failed";
    await this.commit(run.id, async (tx, _r, now) => {
      await this.runUpdate(tx, run.id, { status, statusReason: reason, leaseOwner: null }, now);
      return { events: [{ kind, actor, surface: "engine", data: reason ? { reason } : {} }] };
    }, { release: true });
    this.secrets.delete(run.id);
  }

  private async phase(phase: Parameters<NonNullable<EngineDeps["onPhase"]>>[0], runId: string, s: StepRecord): Promise<void> {
    await this.deps.onPhase?.(phase, { runId, step: s.name, idx: s.idx });
  }
}
