import { BelayError } from "../errors.ts";
import { renewLease } from "../store/runs.ts";
import type { EngineDeps } from "./deps.ts";

/**
 * A claimed run's lease: its epoch (the fencing token every commit carries) and a signal
 * that aborts when the lease is lost, which every step of the run is given. The heartbeat
 * renews on the database's clock every third of the lease; when renewal answers "not
 * yours", or has failed for longer than a lease, the signal aborts: the step in flight is
 * cancelled, not merely prevented from committing.
 */
export class Lease {
  private readonly ac = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private lastRenewed = performance.now();

  constructor(
    private readonly deps: EngineDeps,
    readonly runId: string,
    readonly epoch: number,
    readonly leaseMs: number,
  ) {
    this.timer = setInterval(() => this.renew(), Math.max(50, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  get lost(): boolean {
    return this.ac.signal.aborted;
  }

  /** Gives the lease's signal up: another process has (or may have) the run. */
  lose(why: string): void {
    if (this.lost) return;
    this.deps.logger.warn({ runId: this.runId, epoch: this.epoch, why }, "lease lost; aborting the step in flight");
    this.ac.abort(new BelayError("lease.lost", `run ${this.runId}: ${why}`));
    clearInterval(this.timer);
  }

  private renew(): void {
    if (this.lost) return;
    renewLease(this.deps.db, { runId: this.runId, owner: this.deps.owner, epoch: this.epoch, leaseMs: this.leaseMs })
      .then((ok) => {
        if (!ok) this.lose("the lease is no longer this process's (another process claimed the run, or it moved on)");
        else this.lastRenewed = performance.now();
      })
      .catch((err) => {
        this.deps.logger.warn({ err, runId: this.runId }, "lease renewal failed");
        if (performance.now() - this.lastRenewed > this.leaseMs) this.lose("the lease could not be renewed for longer than it lasts");
      });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
