import type { Logger } from "../execute/deps.ts";
import type { Queryable } from "../store/driver.ts";
import type { LiveEvent, LiveHub } from "./live.ts";

/**
 * How far back each poll looks again. seq comes from a sequence, so a transaction that took
 * seq 10 can commit after seq 11 is visible: re-reading the last few keeps it from being
 * skipped, and the seen set keeps it from being sent twice.
 */
const REREAD = 64;
const BATCH = 500;

/**
 * Feeds the console's event streams from the audit table itself, so a page connected to one
 * replica follows runs that another replica works (its events never pass through this
 * process's onEvents). Events this process committed arrive at once through onEvents
 * (`claim`); the poll adds the rest within about `pollMs`. Polls only while someone
 * watches: one indexed query a second per replica.
 */
export class AuditFollower {
  /** The newest seq looked at, or null when nobody watched at the last tick (start from now). */
  private position: number | null = null;
  private readonly seen = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(
    private readonly db: Queryable,
    private readonly live: LiveHub,
    private readonly opts: { logger: Logger; pollMs?: number },
  ) {}

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.poll().finally(() => {
        if (this.timer) (this.timer = setTimeout(tick, this.opts.pollMs ?? 1000)).unref();
      });
    };
    this.timer = setTimeout(tick, this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Events this process committed, as onEvents delivers them: returns those not sent yet (the
   * poll may have read one first) and marks them, so neither path sends an event twice.
   */
  claim<E extends { seq: number }>(events: readonly E[]): E[] {
    // Nobody watches: nothing to send, and nothing to remember (the set would only grow).
    if (this.live.size === 0) return [];
    const fresh = events.filter((e) => !this.seen.has(Number(e.seq)));
    for (const e of fresh) this.seen.add(Number(e.seq));
    return fresh;
  }

  private async poll(): Promise<void> {
    if (this.live.size === 0) {
      // Nobody watches: nothing to send, and a page that connects later re-fetches anyway.
      this.position = null;
      this.seen.clear();
      return;
    }
    try {
      if (this.position === null) {
        const r = await this.db.query<{ seq: number | string | null }>("SELECT max(seq) AS seq FROM audit_events");
        this.position = Number(r.rows[0]?.seq ?? 0);
        return;
      }
      const from = Math.max(0, this.position - REREAD);
      const r = await this.db.query<{ seq: number | string; kind: string; run_id: string | null; incident_id: string | null }>(
        "SELECT seq, kind, run_id, incident_id FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        [from, BATCH],
      );
      const fresh: LiveEvent[] = [];
      for (const row of r.rows) {
        const seq = Number(row.seq);
        if (seq > this.position) this.position = seq;
        if (this.seen.has(seq)) continue;
        this.seen.add(seq);
        fresh.push({ kind: row.kind, runId: row.run_id, incidentId: row.incident_id });
      }
      for (const seq of this.seen) if (seq <= this.position - REREAD) this.seen.delete(seq);
      if (fresh.length > 0) this.live.publish(fresh);
      if (this.failing) this.opts.logger.info({}, "console: reading the audit stream works again");
      this.failing = false;
    } catch (err) {
      // Live pages then follow only this replica's events until the store answers; said once, not every second.
      if (!this.failing) this.opts.logger.warn({ err }, "console: could not read the audit stream for live pages; retrying every second");
      this.failing = true;
    }
  }
}
