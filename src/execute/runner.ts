import { describeError, isBelayError } from "../errors.ts";
import { playbookFingerprint } from "../plan/plan.ts";
import { secretParamNames } from "../plan/bind.ts";
import { REDACTED } from "../audit/redact.ts";
import { releaseLease, type RunStatus } from "../store/runs.ts";
import { IN_FLIGHT, nextAction, SETTLED } from "./decider.ts";
import type { EngineDeps } from "./deps.ts";
import { AbortPending, Fenced, type Next, type SecretCache, type State } from "./fenced.ts";
import { Lease } from "./lease.ts";
import { recover } from "./recover.ts";
import { act, readOnly } from "./steps.ts";

export type { SecretCache } from "./fenced.ts";

/** Read-only work a shutdown cuts short and hands over (its step is simply run again). Act and notify steps finish. */
const HANDED_OVER_KINDS: ReadonlySet<string> = new Set(["diagnose", "wait"]);
const DRAINING = "this belay is shutting down";

/**
 * Works claimed runs: the lease (lease.ts) fences them, the decider (decider.ts) says what
 * comes next, the gate (gate.ts) holds act steps for approvals and locks, steps.ts carries
 * steps out and recover.ts picks up after a crash. Every write goes through the fenced
 * writer (fenced.ts) with this lease's epoch.
 */
export class Runner {
  private readonly f: Fenced;
  private draining = false;
  /** Runs whose lease this process released on purpose (a shutdown handed them over). */
  private readonly handed = new Set<string>();
  /** The kind of the step each run is carrying out now. */
  private readonly current = new Map<string, string>();

  constructor(
    private readonly deps: EngineDeps,
    secrets: SecretCache,
  ) {
    this.f = new Fenced(deps, secrets);
  }

  /**
   * Works a claimed run until it finishes or blocks (approval, decision, lock, lost lease).
   * `claimSentAt` (performance.now() when the claim was sent) starts the lease's watchdog.
   */
  async process(runId: string, previousStatus: RunStatus, epoch: number, claimSentAt?: number): Promise<void> {
    const lease = new Lease(this.deps, runId, epoch, this.f.leaseMs, claimSentAt);
    lease.draining = this.draining;
    this.f.leases.set(runId, lease);
    try {
      if (previousStatus === "running") {
        await this.f.commit(runId, async () => ({ events: [{ kind: "run.resumed", actor: "belay", surface: "engine", data: { owner: this.deps.owner, epoch, reason: "the previous owner stopped renewing its lease" } }] }));
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
      this.f.leases.delete(runId);
      this.f.mirrors.delete(runId);
      this.current.delete(runId);
      if (lease.handedOver) {
        this.handed.add(runId);
        // Nothing of ours writes to the run any more: let the next claim have it now.
        await releaseLease(this.deps.db, { runId, owner: this.deps.owner, epoch }).catch((err: unknown) =>
          this.deps.logger.warn({ runId, err: describeError(err) }, "handing the lease over failed; another replica takes the run when the lease expires"),
        );
      }
    }
  }

  /**
   * Shutdown, first stage: diagnose and wait steps in flight are cut short and their runs
   * handed over; an act step not yet marked running is handed over before its change starts
   * (gate.ts); act steps already changing (and notify steps) finish, and their runs are
   * handed over after them.
   */
  drain(): void {
    this.draining = true;
    for (const [runId, lease] of this.f.leases) {
      lease.draining = true;
      // Between steps, a run is handed over at its next step (or finishes, if that is what is next).
      const kind = this.current.get(runId);
      if (kind !== undefined && HANDED_OVER_KINDS.has(kind)) lease.handOver(DRAINING);
    }
  }

  /** The runs handed over since the drain began (their leases released). */
  handedOverRuns(): string[] {
    return [...this.handed];
  }

  /**
   * Shutdown, past the drain timeout: every run still in flight is given up. Read-only work is
   * handed over (its lease released); a run whose act step may still be changing the target
   * only stops renewing, so its lease runs out as after a crash and nobody takes the run while
   * that change may be in flight (its next owner finds the step uncertain).
   */
  abandon(): string[] {
    const left = [...this.f.leases.keys()];
    const why = `${DRAINING} and the drain timeout passed`;
    for (const [runId, lease] of this.f.leases) {
      if (this.current.get(runId) === "act") lease.lose(why);
      else lease.handOver(why);
    }
    return left;
  }
  private async load(runId: string, lease: Lease): Promise<State | null> {
    const mirror = await this.f.mirror(runId);
    if (!mirror) return null;
    const { run, steps } = mirror;
    if (run.leaseOwner !== this.deps.owner || run.leaseEpoch !== lease.epoch || run.status !== "running") return null;
    const pb = this.deps.playbooks.get(run.playbookId);
    if (!pb) {
      await this.f.finish(run, "failed", `playbook ${run.playbookId} is not loaded in this belay; it may have been removed`);
      return null;
    }
    if (playbookFingerprint(pb) !== run.playbookFingerprint) {
      await this.f.finish(run, "failed", `playbook ${run.playbookId} changed since this run was proposed; propose a new run to review the new plan`);
      return null;
    }
    if (!mirror.params) {
      const params = { ...run.params, ...(await this.f.unsealedParams(run)) };
      const missing = [...secretParamNames(pb.params)].filter((k) => params[k] === REDACTED);
      if (missing.length > 0) {
        await this.f.finish(run, "failed", `secret param(s) ${missing.join(", ")} are not stored and this process does not hold them; propose the run again`);
        return null;
      }
      mirror.params = params;
    }
    const outputs: Record<string, unknown> = {};
    const finished = new Set<string>();
    for (const s of steps) {
      if (s.status === "succeeded") outputs[s.name] = this.f.rawOutput(mirror, s);
      if (SETTLED.has(s.status)) finished.add(s.name);
    }
    return { run, steps, pb, params: mirror.params, outputs, finished, lease, mirror };
  }
  private async step(state: State): Promise<Next> {
    const { run, steps } = state;
    const action = nextAction(run, steps);
    // Draining: a run may still end or park for a person, but starts (or recovers) no step
    // here; another replica goes on with it.
    if (this.draining && action.do !== "finish" && action.do !== "await_decision") {
      state.lease.handOver(DRAINING);
      return "stop";
    }
    switch (action.do) {
      case "finish":
        await this.f.finish(run, action.status, action.reason, action.actor, steps.filter((s) => IN_FLIGHT.has(s.status)));
        return "stop";
      case "rerun":
        await this.f.commit(run.id, async (tx) => {
          await this.f.stepUpdate(tx, run.id, action.step.idx, { status: "pending" });
          return { events: [{ kind: "step.resumed", actor: "belay", surface: "engine", step: action.step.name, data: { reason: "read-only step interrupted; running it again" } }] };
        });
        return "continue";
      case "reverify":
      case "uncertain":
        return recover(this.f, state, steps.find((s) => s.idx === action.step.idx)!, action.do);
      case "await_decision": {
        const s = steps.find((x) => x.idx === action.step.idx)!;
        await this.f.block(run, s, "uncertain", "awaiting_decision", `step ${s.name} is uncertain: choose retry, skip or abort`, []);
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
      await this.f.fail(run, next, `the when condition of ${next.name} failed: ${describeError(err)}`);
      return "stop";
    }
    if (skip) {
      await this.f.commit(run.id, async (tx, _r, now) => {
        await this.f.stepUpdate(tx, run.id, next.idx, { status: "skipped", finishedAt: now });
        return { events: [{ kind: "step.skipped", actor: "belay", surface: "engine", step: next.name, data: { reason: def.skipReason({ params: state.params, outputs: state.outputs }), by: "condition" } }] };
      });
      return "continue";
    }
    this.current.set(run.id, def.kind);
    // A drain that began since the check above: a read-only step does not start.
    if (this.draining && HANDED_OVER_KINDS.has(def.kind)) state.lease.handOver(DRAINING);
    if (state.lease.lost) {
      this.current.delete(run.id);
      return "stop";
    }
    await this.f.phase("step.before", run.id, next);
    try {
      return await (def.kind === "act" ? act(this.f, state, next, def) : readOnly(this.f, state, next, def));
    } finally {
      this.current.delete(run.id);
    }
  }
}
