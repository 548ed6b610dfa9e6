import { BelayError } from "../errors.ts";
import { renewLease } from "../store/runs.ts";
import type { EngineDeps } from "./deps.ts";

/** The share of a lease after which, with no renewal known to have landed, the lease is given up. */
export const LEASE_WATCHDOG_SHARE = 0.8;

/**
 * A claimed run's lease: its epoch (the fencing token every commit carries) and a signal
 * that aborts when the lease is lost, which every step of the run is given. The heartbeat
 * renews on the database's clock every third of the lease; the signal aborts when renewal
 * answers "not yours", or when no renewal has succeeded within 0.8 of a lease, counted from
 * when the last successful one was SENT (the database may have let the lease run out from
 * then on). The watchdog does not wait for a pending query: a database that stopped
 * answering (a partition, a failover) never fails the renewal, it just never answers.
 */
export class Lease {
  private readonly ac = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private watchdog: NodeJS.Timeout | null = null;
  /** performance.now() when the last renewal (or the claim) that succeeded was sent. */
  private lastGoodSentAt: number;

  constructor(
    private readonly deps: EngineDeps,
    readonly runId: string,
    readonly epoch: number,
    readonly leaseMs: number,
    /** performance.now() when the claim that gave this lease was sent. */
    claimSentAt: number = performance.now(),
  ) {
    this.lastGoodSentAt = claimSentAt;
    this.timer = setInterval(() => this.renew(), Math.max(50, Math.floor(leaseMs / 3)));
    this.timer.unref();
    this.arm();
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  get lost(): boolean {
    return this.ac.signal.aborted;
  }

  /** True once `handOver` gave the lease up on purpose (shutdown): the runner then releases it in the store. */
  handedOver = false;

  /** Set when a shutdown began: an act step not yet marked running hands the run over instead of starting its change. */
  draining = false;

  /** Gives the lease's signal up: another process has (or may have) the run. */
  lose(why: string): void {
    if (this.lost) return;
    if (!this.handedOver) this.deps.logger.warn({ runId: this.runId, epoch: this.epoch, why }, "lease lost; aborting the step in flight");
    this.ac.abort(new BelayError("lease.lost", `run ${this.runId}: ${why}`));
    this.stop();
  }

  /** (Re)sets the watchdog to fire 0.8 of a lease after the last successful renewal was sent. */
  private arm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    const due = this.lastGoodSentAt + LEASE_WATCHDOG_SHARE * this.leaseMs - performance.now();
    this.watchdog = setTimeout(() => this.check(), Math.max(0, due));
    this.watchdog.unref();
  }

  private check(): void {
    if (this.lost) return;
    const since = performance.now() - this.lastGoodSentAt;
    if (since >= LEASE_WATCHDOG_SHARE * this.leaseMs) {
      this.lose(`no lease renewal has succeeded for ${Math.round(since)} ms (lease ${this.leaseMs} ms); the database may have let another process claim the run`);
    } else this.arm();
  }

  private renew(): void {
    if (this.lost) return;
    this.check();
    if (this.lost) return;
    const sentAt = performance.now();
    renewLease(this.deps.db, { runId: this.runId, owner: this.deps.owner, epoch: this.epoch, leaseMs: this.leaseMs })
      .then((ok) => {
        if (this.lost) return;
        if (!ok) return this.lose("the lease is no longer this process's (another process claimed the run, or it moved on)");
        // A late answer to an older renewal does not move the deadline back.
        if (sentAt > this.lastGoodSentAt) {
          this.lastGoodSentAt = sentAt;
          this.arm();
        }
      })
      .catch((err) => {
        // The watchdog decides when a failing database costs the lease.
        this.deps.logger.warn({ err, runId: this.runId }, "lease renewal failed");
      });
  }

  /**
   * Shutdown: aborts the step in flight like a lost lease (its work is not ours to write any
   * more) and marks the lease for release, so another replica claims the run at once.
   */
  handOver(why: string): void {
    if (this.lost) return;
    this.handedOver = true;
    this.deps.logger.info({ runId: this.runId, epoch: this.epoch, why }, "handing the run over to another replica");
    this.lose(why);
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
  }
}
