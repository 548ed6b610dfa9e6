import { appendAudit } from "../audit/chain.ts";
import type { AuditEvent } from "../audit/events.ts";
import { redact, REDACTED } from "../audit/redact.ts";
import { BelayError } from "../errors.ts";
import { bindParams, secretParamNames } from "../plan/bind.ts";
import { buildPlan, type Plan } from "../plan/plan.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import {
  claimRuns,
  databaseNow,
  getApprovals,
  getRun,
  getSteps,
  insertRun,
  insertRunSecrets,
  TERMINAL_RUN_STATUSES,
  type ApprovalRow,
  type RunRecord,
  type StepRecord,
} from "../store/runs.ts";
import { decide, type Decision, type DecisionResult } from "./decisions.ts";
import type { EngineDeps } from "./deps.ts";
import { Runner, type SecretCache } from "./runner.ts";
import { seal } from "./secrets.ts";

export interface ProposeInput {
  playbookId: string;
  /** Raw params; validated with the playbook's schema. */
  params: Record<string, unknown>;
  requestedBy: string;
  surface: string;
  incidentId?: string | null;
  dryRun?: boolean;
}

/** What a drain did with the runs in flight. */
export interface DrainReport {
  /** Runs whose read-only work was cut short and whose lease was released for another replica. */
  handedOver: string[];
  /** Runs whose act (or notify) step was allowed to finish, then handed over. */
  finished: string[];
  /** Runs still working when the drain timeout passed: given up, recovered by their next owner. */
  abandoned: string[];
}

export interface RunView {
  run: RunRecord;
  steps: StepRecord[];
  approvals: ApprovalRow[];
  playbook: AnyPlaybook | null;
  /** The database's time when the view was read: what approval expiry is judged by. */
  dbNow?: Date;
}

/**
 * The durable runner's public face. Surfaces (CLI, Slack, webhooks) call these; none of
 * them runs a step itself. Work happens in `start()`'s loop or in `drive()`.
 */
export class Engine {
  private readonly secrets: SecretCache = new Map();
  private readonly runner: Runner;
  private timer: NodeJS.Timeout | null = null;
  private readonly active = new Map<string, Promise<void>>();
  private stopping = false;
  private polling: Promise<void> | null = null;
  private kicked = false;

  constructor(readonly deps: EngineDeps) {
    this.runner = new Runner(deps, this.secrets);
  }

  playbook(id: string): AnyPlaybook {
    const pb = this.deps.playbooks.get(id);
    if (!pb) {
      const known = [...this.deps.playbooks.keys()].sort().join(", ");
      throw new BelayError("playbook.not_found", `no playbook "${id}"; known playbooks: ${known || "(none loaded)"}`);
    }
    return pb;
  }

  /** Validates params and writes the run with its whole plan. Nothing runs yet. */
  async propose(input: ProposeInput): Promise<{ runId: string; plan: Plan }> {
    const pb = this.playbook(input.playbookId);
    const bound = bindParams<Record<string, unknown>>(pb, input.params);
    const secretNames = secretParamNames(pb.params);
    const storedParams = redact(
      Object.fromEntries(Object.entries(bound).map(([k, v]) => [k, secretNames.has(k) && v !== undefined ? REDACTED : v])),
    );
    // Execution inputs are never redacted: whatever the stored copy hides (secret params, a
    // DSN's password) is sealed for the runner, so any replica can finish the run.
    const hidden = Object.fromEntries(
      Object.entries(bound).filter(([k, v]) => v !== undefined && JSON.stringify(v) !== JSON.stringify(storedParams[k])),
    );
    const hiddenSecrets = Object.keys(hidden).filter((k) => secretNames.has(k));
    if (hiddenSecrets.length > 0 && !this.deps.keyring) {
      throw new BelayError(
        "config.invalid",
        `playbook ${pb.id} takes secret param(s) ${hiddenSecrets.join(", ")}, and BELAY_SECRET_KEY is not set, so they cannot be stored for the run; set it (32 bytes, \`openssl rand -base64 32\`) and start belay again`,
      );
    }
    const sealed = Object.keys(hidden).length > 0 && this.deps.keyring ? seal(this.deps.keyring, hidden) : null;
    const plan = buildPlan(pb, storedParams);
    const runId = this.deps.newId("run");
    const now = this.deps.clock();
    let events: AuditEvent[] = [];
    await this.deps.db.transaction(async (tx) => {
      await insertRun(
        tx,
        {
          id: runId,
          playbookId: pb.id,
          playbookFingerprint: plan.fingerprint,
          incidentId: input.incidentId ?? null,
          requestedBy: input.requestedBy,
          surface: input.surface,
          params: storedParams,
          status: "pending",
          dryRun: input.dryRun ?? false,
          planHash: plan.hash,
          createdAt: now,
        },
        plan.steps.map((s) => ({ idx: s.idx, name: s.name, kind: s.kind, risk: s.risk, permissions: [...s.permissions] })),
      );
      if (sealed) await insertRunSecrets(tx, runId, sealed);
      const base = { actor: input.requestedBy, surface: input.surface, runId, incidentId: input.incidentId ?? null };
      events = await appendAudit(
        tx,
        [
          {
            ...base,
            kind: "run.proposed",
            data: {
              playbook: pb.id,
              dryRun: input.dryRun ?? false,
              planHash: plan.hash,
              steps: plan.steps.map((s) => ({ name: s.name, kind: s.kind, risk: s.risk, permissions: s.permissions })),
            },
          },
          { ...base, kind: "params.bound", data: { params: storedParams } },
        ],
        { now, newId: () => this.deps.newId("evt") },
      );
    });
    // Without a key, values the store hides live only in this process (no secret param gets here).
    if (!sealed && Object.keys(hidden).length > 0) this.secrets.set(runId, hidden);
    this.deps.onEvents?.(events);
    this.kick();
    return { runId, plan };
  }

  /** Approve, deny or skip a step, abort a run, or settle an uncertain step. Policy is enforced here. */
  async decide(d: Decision): Promise<DecisionResult> {
    const result = await decide(this.deps, d);
    if (result.accepted && (d.kind === "deny" || d.kind === "abort")) {
      // A denied run has ended; an abort may only have been requested (the step in flight
      // finishes first, and the runner's last commit forgets the values then).
      const run = d.kind === "abort" ? await getRun(this.deps.db, d.runId) : null;
      if (d.kind === "deny" || (run !== null && TERMINAL_RUN_STATUSES.includes(run.status))) this.secrets.delete(d.runId);
    }
    if (result.resumed) this.kick();
    return result;
  }

  async view(runId: string): Promise<RunView> {
    const run = await getRun(this.deps.db, runId);
    if (!run) throw new BelayError("run.not_found", `no run ${runId}; list recent runs with \`belay runs\``);
    const [steps, approvals, dbNow] = await Promise.all([getSteps(this.deps.db, runId), getApprovals(this.deps.db, runId), databaseNow(this.deps.db)]);
    return { run, steps, approvals, playbook: this.deps.playbooks.get(run.playbookId) ?? null, dbNow };
  }

  /** Claims due runs and works them, up to the concurrency limit. Resolves when this round's work is done. */
  async tick(): Promise<number> {
    const limit = (this.deps.concurrency ?? 4) - this.active.size;
    if (limit <= 0) return 0;
    // The lease is counted from when the claim was sent: the database started it no earlier.
    const sentAt = performance.now();
    const claimed = await claimRuns(this.deps.db, { owner: this.deps.owner, leaseMs: this.deps.leaseMs ?? 30_000, limit });
    for (const c of claimed) {
      const p = this.runner.process(c.id, c.previousStatus, c.epoch, sentAt).finally(() => {
        this.active.delete(c.id);
        if (!this.stopping) this.kick();
      });
      this.active.set(c.id, p);
    }
    return claimed.length;
  }

  /** Works one run in the foreground until it finishes or waits on a human (the CLI's loop). */
  async drive(runId: string): Promise<RunView> {
    for (;;) {
      const sentAt = performance.now();
      const [claimed] = await claimRuns(this.deps.db, { owner: this.deps.owner, leaseMs: this.deps.leaseMs ?? 30_000, limit: 1, runId });
      if (claimed) {
        await this.runner.process(claimed.id, claimed.previousStatus, claimed.epoch, sentAt);
        continue;
      }
      const view = await this.view(runId);
      // pending: another worker held the row when we tried (SKIP LOCKED); running or waiting:
      // another process's lease, or a target lock. Either way the run has not stopped: look again.
      if (view.run.status !== "waiting" && view.run.status !== "running" && view.run.status !== "pending") return view;
      await new Promise((r) => setTimeout(r, view.run.status === "pending" ? 20 : 200));
    }
  }

  /** Starts the background loop: polls for due runs, and wakes at once on `kick()`. */
  start(): void {
    if (this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => this.kick(), this.deps.pollMs ?? 500);
    this.kick();
  }

  /** Asks the loop to look for work now (after a proposal or an approval). */
  kick(): void {
    if (!this.timer || this.stopping) return;
    if (this.polling) {
      this.kicked = true;
      return;
    }
    this.polling = this.tick()
      .then(() => undefined)
      .catch((err) => this.deps.logger.error({ err }, "claiming runs failed; retrying on the next poll"))
      .finally(() => {
        this.polling = null;
        if (this.kicked) {
          this.kicked = false;
          this.kick();
        }
      });
  }

  /**
   * Graceful shutdown: claims nothing more, hands diagnose and wait work over to another
   * replica at once (its lease released, not left to expire), and lets act steps in progress
   * finish for up to `timeoutMs`; what is still running then is given up as a crash would
   * leave it (its next owner recovers it: a mutating step becomes uncertain).
   */
  async drain(timeoutMs: number): Promise<DrainReport> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // Draining begins before a claim in flight is answered: a run it claims is handed over at
    // its first step, and a store slow to answer it counts against the timeout, not past it.
    const inFlight = [...this.active.keys()];
    this.runner.drain();
    const settled = async () => {
      await this.polling;
      while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
    };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([settled().then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
    clearTimeout(timer);
    const abandoned = timedOut ? this.runner.abandon() : [];
    await Promise.allSettled([...this.active.values()]);
    const handedOver = this.runner.handedOverRuns().filter((id) => !abandoned.includes(id));
    return { handedOver, finished: inFlight.filter((id) => !handedOver.includes(id) && !abandoned.includes(id)), abandoned };
  }

  /** Stops claiming new work and waits for runs in progress to reach a safe point. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
    await Promise.allSettled([...this.active.values()]);
  }

  isTerminal(run: RunRecord): boolean {
    return TERMINAL_RUN_STATUSES.includes(run.status);
  }
}
