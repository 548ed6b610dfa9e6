/**
 * The fenced writer: every runner commit carries the run's lease epoch, and what it stores is
 * redacted and storable, while steps get their inputs (params, outputs, preview data) raw.
 */
import { canonicalJson, sha256Hex } from "../audit/canonical.ts";
import { eventBody, rowToEvent } from "../audit/chain.ts";
import type { AuditInput } from "../audit/events.ts";
import { redact, redactText, REDACTED } from "../audit/redact.ts";
import { BelayError } from "../errors.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { StepDef } from "../sdk/types.ts";
import {
  getRun,
  getRunSecrets,
  getSteps,
  type RunPatch,
  type RunRecord,
  type RunStatus,
  type StepPatch,
  type StepRecord,
  runFromJson,
  TERMINAL_RUN_STATUSES,
} from "../store/runs.ts";
import type { Queryable } from "../store/driver.ts";
import type { CommitFn } from "./commit.ts";
import { jsonRoundTrip, stepLogger, type ContextInput } from "./context.ts";
import type { EngineDeps } from "./deps.ts";
import type { Lease } from "./lease.ts";
import { unseal, seal } from "./secrets.ts";
import { storable } from "./storable.ts";

export type Next = "continue" | "stop";

/** A small, bounded summary of an output for the audit trail: its hash, and the output itself when small. */
export function outputDigest(output: unknown): Record<string, unknown> {
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
export class LockBusy extends Error {
  constructor(readonly heldBy: { target: string; runId: string }) {
    super(`target ${heldBy.target} is locked by run ${heldBy.runId}`);
  }
}
/** The commit was refused because a person asked for the run to stop. */
export class AbortPending extends Error {}

export interface CommitOpts {
  /** Target locks to take (or re-take, under this lease's epoch) in the same commit. */
  acquire?: readonly string[];
  /** Give the run's target locks back in the same commit (its step settled). */
  release?: boolean;
}

export interface Mirror {
  run: RunRecord;
  steps: StepRecord[];
  /** The run's params as steps get them (secret and credential-bearing values unsealed). */
  params?: Record<string, unknown>;
  /** Raw outputs of steps whose stored copy differs (redacted or escaped), by step index. */
  raw: Map<number, unknown>;
  /** Raw preview data whose stored copy differs, by step index. */
  rawPreview: Map<number, unknown>;
}

export interface State {
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
 * The fenced writer of the runs this process holds: every change goes through
 * `belay_runner_commit` with the run's lease epoch, so a process that lost a lease writes
 * nothing more. It keeps a mirror of each run (as last committed) and hands steps their
 * inputs unredacted: params and outputs unsealed, never the store's redacted copy.
 */
export class Fenced {
  constructor(
    readonly deps: EngineDeps,
    readonly secrets: SecretCache,
  ) {}

  get leaseMs(): number {
    return this.deps.leaseMs ?? 30_000;
  }

  readonly mirrors = new Map<string, Mirror>();
  readonly leases = new Map<string, Lease>();
  readonly pending = new Map<string, { steps: [number, StepPatch][]; run: RunPatch[] }>();

  /** Records a step change for the commit in progress (see `commit`). */
  async stepUpdate(_tx: Queryable, runId: string, idx: number, patch: StepPatch): Promise<void> {
    this.pending.get(runId)!.steps.push([idx, patch]);
  }

  /** Records a run change for the commit in progress (see `commit`). */
  async runUpdate(_tx: Queryable, runId: string, patch: RunPatch, _now: Date): Promise<void> {
    this.pending.get(runId)!.run.push(patch);
  }

  async mirror(runId: string): Promise<Mirror | null> {
    let mirror = this.mirrors.get(runId);
    if (!mirror) {
      const fresh = await getRun(this.deps.db, runId);
      if (!fresh) return null;
      mirror = { run: fresh, steps: await getSteps(this.deps.db, runId), raw: new Map(), rawPreview: new Map() };
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
  async commit(runId: string, fn: CommitFn<unknown>, opts: CommitOpts = {}): Promise<unknown> {
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
      // A run that ended needs its secret values no more, whichever commit ended it.
      if (TERMINAL_RUN_STATUSES.includes(mirror.run.status)) this.secrets.delete(runId);
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

  /** Params whose stored copy is redacted: sealed in the store, or (no key) held by the proposing process. */
  async unsealedParams(run: RunRecord): Promise<Record<string, unknown>> {
    const held = this.secrets.get(run.id);
    if (held) return held;
    if (!JSON.stringify(run.params).includes(REDACTED)) return {};
    const sealed = await getRunSecrets(this.deps.db, run.id);
    if (!sealed || !this.deps.keyring) return {};
    return unseal(this.deps.keyring, sealed) as Record<string, unknown>;
  }

  /** What a later step reads of an earlier step's output: the raw value, never the redacted copy. */
  rawOutput(mirror: Mirror, s: StepRecord): unknown {
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
  storedOutput(state: State, idx: number, value: unknown): { raw: unknown; stored: unknown; patch: StepPatch; escaped: boolean } {
    const raw = jsonRoundTrip(value);
    const { value: stored, escaped } = storable(redact(raw));
    const patch: StepPatch = { output: stored };
    if (JSON.stringify(stored) !== JSON.stringify(raw)) {
      state.mirror.raw.set(idx, raw);
      if (this.deps.keyring) patch.sealedOutput = seal(this.deps.keyring, raw);
    }
    return { raw, stored, patch, escaped };
  }

  /** The stored copy of a preview's data and, when it differs, the raw data sealed: `run` gets what the preview computed. */
  storedPreviewData(state: State, idx: number, data: unknown): { stored: unknown; patch: StepPatch } {
    const raw = jsonRoundTrip(data);
    const stored = storable(redact(raw)).value;
    const patch: StepPatch = { previewData: stored };
    if (JSON.stringify(stored) !== JSON.stringify(raw)) {
      state.mirror.rawPreview.set(idx, raw);
      if (this.deps.keyring) patch.sealedPreviewData = seal(this.deps.keyring, raw);
    }
    return { stored, patch };
  }

  /** What `run` gets as previewData: the raw value, never the redacted copy. */
  rawPreviewData(mirror: Mirror, s: StepRecord): unknown {
    if (mirror.rawPreview.has(s.idx)) return mirror.rawPreview.get(s.idx);
    if (s.sealedPreviewData && this.deps.keyring) {
      const raw = unseal(this.deps.keyring, s.sealedPreviewData);
      mirror.rawPreview.set(s.idx, raw);
      return raw;
    }
    return s.previewData;
  }

  ctxInput(state: State, step: StepRecord): ContextInput {
    return {
      params: state.params,
      outputs: state.outputs,
      targets: this.deps.targets,
      log: stepLogger(this.deps.logger, { runId: state.run.id, step: step.name }),
      run: { id: state.run.id, incidentId: state.run.incidentId, dryRun: state.run.dryRun, requestedBy: state.run.requestedBy },
    };
  }

  lockKeys(state: State, def: StepDef): string[] {
    return def.locks ? [...def.locks({ params: state.params, outputs: state.outputs })] : [];
  }

  /** Parks the run: the step waits for humans, and the lease is given up (target locks are kept). */
  async block(
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

  async fail(run: RunRecord, s: StepRecord, reason: string): Promise<void> {
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

  /** Ends the run. The database releases its target locks and clears its sealed inputs in the same commit (and `commit` forgets its cached secrets). */
  async finish(run: RunRecord, status: RunStatus, reason: string | null, actor = "belay", inFlight: readonly StepRecord[] = []): Promise<void> {
    const kind = status === "succeeded" ? "run.succeeded" : status === "previewed" ? "run.previewed" : status === "aborted" ? "run.aborted" : "run.failed";
    await this.commit(run.id, async (tx, _r, now) => {
      const events: AuditInput[] = [];
      // A step a dead owner left in flight stays on record as what it is: a change that may have happened.
      for (const s of inFlight) {
        const uncertain = s.kind === "act" && s.status !== "verifying";
        await this.stepUpdate(tx, run.id, s.idx, { status: uncertain ? "uncertain" : "failed", error: `interrupted (${s.status}) when the run was ${status}`, finishedAt: now });
        if (uncertain) events.push({ kind: "step.uncertain", actor, surface: "engine", step: s.name, data: { interrupted: s.status, reason: `the run was ${status} while the step was in flight` } });
      }
      await this.runUpdate(tx, run.id, { status, statusReason: reason, leaseOwner: null }, now);
      events.push({ kind, actor, surface: "engine", data: reason ? { reason } : {} });
      return { events };
    }, { release: true });
  }

  async phase(phase: Parameters<NonNullable<EngineDeps["onPhase"]>>[0], runId: string, s: StepRecord): Promise<void> {
    await this.deps.onPhase?.(phase, { runId, step: s.name, idx: s.idx });
  }
}
