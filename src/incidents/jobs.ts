import type { Logger } from "../execute/deps.ts";
import { BelayError, describeError } from "../errors.ts";
import type { Db, Queryable } from "../store/driver.ts";

export type JobKind = "triage" | "resolve" | "watch";

export interface Job {
  id: string;
  incidentId: string;
  kind: JobKind;
  state: Record<string, unknown>;
  attempts: number;
}

/** What a handler sees: its job, and a way to memoise a side effect already done. */
export interface JobContext {
  job: Job;
  /** Merges into the job's stored state at once: a re-run after a crash skips what is recorded. */
  remember(patch: Record<string, unknown>): Promise<void>;
  signal: AbortSignal;
}

/** `done`, or `later` to look again after a delay (e.g. resolution waiting for triage to finish). */
export type JobOutcome = { kind: "done" } | { kind: "later"; afterMs: number; reason: string };

export type JobHandler = (ctx: JobContext) => Promise<JobOutcome>;

/** `at`: when the job is due (default `now`), e.g. a watch some minutes after a fix. */
export async function enqueueJob(tx: Queryable, j: { id: string; incidentId: string; kind: JobKind; dedupeKey: string; now: Date; at?: Date }): Promise<void> {
  // The dedupe key makes enqueueing idempotent: one triage per opening of an incident.
  await tx.query(
    `INSERT INTO incident_jobs (id, incident_id, kind, dedupe_key, status, next_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'pending', $6, $5, $5) ON CONFLICT (dedupe_key) DO NOTHING`,
    [j.id, j.incidentId, j.kind, j.dedupeKey, j.now, j.at ?? j.now],
  );
}

/**
 * Of these open incidents, the ones a new alert should re-triage: their proposal could not be
 * made (a param was asked for, proposing failed) or ended without a fix (failed, rolled back,
 * withdrawn), and nothing is in hand now (no active run, no triage pending or running).
 * Incidents with no playbook at all are left alone, so a storm does not re-triage every batch.
 */
export async function incidentsToRetriage(tx: Queryable, incidentIds: readonly string[]): Promise<string[]> {
  if (incidentIds.length === 0) return [];
  const r = await tx.query<{ id: string }>(
    `SELECT i.id FROM unnest($1::text[]) AS i(id)
     WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.incident_id = i.id
                         AND r.status IN ('pending', 'running', 'waiting', 'awaiting_approval', 'awaiting_decision', 'succeeded'))
       AND NOT EXISTS (SELECT 1 FROM incident_jobs j WHERE j.incident_id = i.id AND j.kind = 'triage' AND j.status IN ('pending', 'running'))
       AND (EXISTS (SELECT 1 FROM runs r WHERE r.incident_id = i.id AND r.requested_by = 'belay')
            OR EXISTS (SELECT 1 FROM incident_jobs j WHERE j.incident_id = i.id AND j.kind = 'triage' AND (j.state ? 'ask' OR j.state ? 'proposeFailed')))`,
    [incidentIds],
  );
  return r.rows.map((x) => x.id);
}

/** Queues another triage of an incident: a new alert joined it, or a human asked (`/runbook retriage`). */
export async function enqueueRetriage(tx: Queryable, j: { id: string; incidentId: string; now: Date }): Promise<void> {
  await enqueueJob(tx, { id: j.id, incidentId: j.incidentId, kind: "triage", dedupeKey: `triage:${j.incidentId}:again:${j.id}`, now: j.now });
}

export interface JobRunnerDeps {
  db: Db;
  clock: () => Date;
  logger: Logger;
  owner: string;
  /** `watch` is optional: without it, a watch job is done at once (nothing watches). */
  handlers: Record<Exclude<JobKind, "watch">, JobHandler> & { watch?: JobHandler };
  /** Jobs worked at once in this process (default 2): triage runs diagnose steps, keep it small. */
  concurrency?: number;
  /** A job not finished by then is abandoned (and retried) (default 120 s). */
  timeoutMs?: number;
  maxAttempts?: number;
}

/**
 * Claims due jobs with leases and runs them, at most `concurrency` at once. A job whose
 * process died is claimed again once its lease expires; its `state` says what was done.
 */
export class JobRunner {
  private readonly active = new Map<string, Promise<void>>();
  private claiming: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: JobRunnerDeps) {}

  get busy(): number {
    return this.active.size;
  }

  /** Looks for due jobs now. */
  kick(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = this.claim()
      .catch((err) => this.deps.logger.error({ err }, "claiming incident jobs failed; retrying on the next poll"))
      .finally(() => {
        this.claiming = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async claim(): Promise<void> {
    const limit = (this.deps.concurrency ?? 2) - this.active.size;
    if (limit <= 0) return;
    const now = this.deps.clock();
    const timeoutMs = this.deps.timeoutMs ?? 120_000;
    // SKIP LOCKED: replicas claiming at once each take different jobs instead of queueing
    // behind one another's row locks. An expired lease is a job whose worker died.
    const r = await this.deps.db.query<{ id: string; incident_id: string; kind: JobKind; state: Record<string, unknown>; attempts: number }>(
      `UPDATE incident_jobs SET status = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3
       WHERE id IN (
         SELECT id FROM incident_jobs
         WHERE status IN ('pending', 'running') AND next_at <= $3 AND (status = 'pending' OR lease_expires_at < $3)
         ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED)
       RETURNING id, incident_id, kind, state, attempts`,
      [this.deps.owner, new Date(now.getTime() + timeoutMs + 30_000), now, limit],
    );
    for (const row of r.rows) {
      const job: Job = { id: row.id, incidentId: row.incident_id, kind: row.kind, state: row.state ?? {}, attempts: Number(row.attempts) };
      const p = this.work(job).finally(() => {
        this.active.delete(job.id);
        this.kick();
      });
      this.active.set(job.id, p);
    }
  }

  private async work(job: Job): Promise<void> {
    const { db, clock, logger } = this.deps;
    const controller = new AbortController();
    const timeoutMs = this.deps.timeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const ctx: JobContext = {
      job,
      signal: controller.signal,
      remember: async (patch) => {
        // A handler that outlived its timeout goes on running (nothing can stop a promise), but
        // the job is already pending again, or re-claimed: it must not record anything more, and
        // stops at its next memoised side effect instead of repeating the new attempt's work.
        if (controller.signal.aborted) throw new BelayError("lease.lost", `${job.kind} job ${job.id} was abandoned after its timeout`);
        Object.assign(job.state, patch);
        await db.query(`UPDATE incident_jobs SET state = state || $2::jsonb, updated_at = $3 WHERE id = $1`, [job.id, JSON.stringify(patch), clock()]);
      },
    };
    try {
      const outcome = await Promise.race([
        (this.deps.handlers[job.kind] ?? (async () => ({ kind: "done" }) as const))(ctx),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            controller.abort();
            reject(new Error(`${job.kind} job timed out after ${timeoutMs} ms`));
          }, timeoutMs);
        }),
      ]);
      const now = clock();
      if (outcome.kind === "done") {
        await db.query(`UPDATE incident_jobs SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, updated_at = $2 WHERE id = $1`, [job.id, now]);
      } else {
        // Waiting is not a failed attempt.
        await db.query(
          `UPDATE incident_jobs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, attempts = attempts - 1, last_error = $3, next_at = $4, updated_at = $2 WHERE id = $1`,
          [job.id, now, outcome.reason, new Date(now.getTime() + outcome.afterMs)],
        );
      }
    } catch (err) {
      const now = clock();
      const failed = job.attempts >= (this.deps.maxAttempts ?? 5);
      logger.error({ err, job: job.id, kind: job.kind, incident: job.incidentId, attempt: job.attempts }, failed ? "incident job failed for good" : "incident job failed; it will be retried");
      await db
        .query(
          `UPDATE incident_jobs SET status = $3, lease_owner = NULL, lease_expires_at = NULL, last_error = $4, next_at = $5, updated_at = $2 WHERE id = $1`,
          [job.id, now, failed ? "failed" : "pending", describeError(err).slice(0, 2000), new Date(now.getTime() + Math.min(60_000, 1000 * 2 ** job.attempts))],
        )
        .catch((e) => logger.error({ err: e, job: job.id }, "could not record the job's failure; its lease will expire and it will run again"));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for jobs in progress; claims nothing more. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.claiming;
    await Promise.allSettled([...this.active.values()]);
  }
}
