import type { Logger } from "../execute/deps.ts";
import { drainOnce, drainOneIsolated, type DrainDeps, type DrainResult } from "./drain.ts";
import { JobRunner, type JobRunnerDeps } from "./jobs.ts";

export interface IncidentWorkerDeps {
  drain: DrainDeps;
  jobs: JobRunnerDeps;
  logger: Logger;
  /** How often to look for work another replica stored (default 500 ms). */
  pollMs?: number;
  /**
   * A commit wakes the drain after this delay (default 50 ms), so a storm is drained in a
   * few large batches instead of one transaction per commit, leaving the CPU to the acks.
   */
  coalesceMs?: number;
  /** Told after each drained batch (metrics). */
  onDrained?: (r: DrainResult) => void;
}

/**
 * The background half of ingestion: drains the inbox into incidents, then works the jobs
 * (triage, resolution) those incidents enqueued. Woken at once by a local commit, and by a
 * poll for work stored by other replicas or left by a crash.
 */
export class IncidentWorker {
  readonly jobs: JobRunner;
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private again = false;
  private failures = 0;
  private stopped = false;
  private soon: NodeJS.Timeout | null = null;

  constructor(private readonly deps: IncidentWorkerDeps) {
    this.jobs = new JobRunner(deps.jobs);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), this.deps.pollMs ?? 500);
    this.kick();
  }

  /** Asks for a drain shortly (after a commit): commits that arrive meanwhile share it. */
  wake(): void {
    if (this.stopped || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      this.kick();
    }, this.deps.coalesceMs ?? 50);
  }

  /** Asks for a drain now. */
  kick(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drainAll()
      .then(() => undefined)
      .catch((err) => this.deps.logger.error({ err }, "draining the alert inbox failed; retrying on the next poll"))
      .finally(() => {
        this.draining = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Drains until the inbox is empty, then looks for jobs. Resolves when this round is done. */
  async drainAll(): Promise<number> {
    let total = 0;
    for (;;) {
      let r: DrainResult;
      try {
        r = await drainOnce(this.deps.drain);
        this.failures = 0;
      } catch (err) {
        // One bad delivery must not block the rest: isolate it, and set it aside after a few tries.
        this.failures++;
        this.deps.logger.error({ err, failures: this.failures }, "a drain batch failed; draining one delivery at a time");
        const one = await drainOneIsolated(this.deps.drain);
        if (one.parked) this.deps.logger.error({}, "a delivery failed repeatedly and was set aside (audited as alert.rejected)");
        total += one.deliveries;
        if (one.deliveries === 0) break;
        continue;
      }
      total += r.deliveries;
      if (r.deliveries > 0) this.deps.onDrained?.(r);
      if (r.deliveries === 0) break;
      this.jobs.kick(); // triage can start while later batches drain
    }
    this.jobs.kick();
    return total;
  }

  /** Waits until the inbox is drained and no job is due or running (tests and the benchmark). */
  async settle(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      await this.draining;
      await this.drainAll();
      const due = await this.deps.drain.db.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM ingest_deliveries WHERE processed_at IS NULL)
              + (SELECT count(*) FROM incident_jobs WHERE status IN ('pending', 'running')) AS n`,
      );
      if (Number(due.rows[0]?.n ?? 0) === 0 && this.jobs.busy === 0) return;
      if (Date.now() > until) throw new Error(`incident work did not settle within ${timeoutMs} ms`);
      this.jobs.kick();
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.soon) clearTimeout(this.soon);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.draining;
    await this.jobs.stop();
  }
}
