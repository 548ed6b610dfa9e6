import { BelayError } from "../errors.ts";
import type { Alert } from "../sdk/alert.ts";
import type { Queryable } from "../store/driver.ts";

/** One webhook delivery, normalised, as it is stored before it is acknowledged. */
export interface NewDelivery {
  source: "alertmanager" | "pagerduty" | "drill" | "manual";
  /** The sender's delivery id (PagerDuty's X-Webhook-Id): a retry with the same id is stored once. */
  deliveryKey: string | null;
  /** `alertmanager.firing`, `incident.triggered`, ... */
  eventType: string;
  alerts: readonly Alert[];
  meta: Record<string, unknown>;
}

export interface StoreResult {
  id: string;
  /** An earlier delivery with the same key was already stored: nothing new was written. */
  duplicate: boolean;
}

interface Pending {
  id: string;
  delivery: NewDelivery;
  /** The size of the body it came in: what holding it costs in memory until its INSERT is done. */
  bytes: number;
  /** Settled (answered) already: by its commit, its failure or its deadline. */
  done: boolean;
  timer: NodeJS.Timeout | null;
  resolve: (r: StoreResult) => void;
  reject: (err: unknown) => void;
}

export interface InboxDeps {
  db: Queryable;
  clock: () => Date;
  newId: (prefix: string) => string;
  /** Deliveries per INSERT (default 256). */
  maxBatch?: number;
  /** INSERTs in flight at once (default 4): one commits while the next batch gathers. */
  maxInFlight?: number;
  /**
   * A delivery not committed by then is answered 503 (default 4 s): senders give up after
   * 5 s (PagerDuty) and retry, so a late 202 would only be a retry's duplicate, and a store
   * that hangs must not hold requests, and their bodies, without bound.
   */
  deadlineMs?: number;
  /** Deliveries waiting for an INSERT beyond this are refused at once (default 2,048). */
  maxQueued?: number;
  /** Bodies held (waiting or being inserted) beyond this many bytes are refused at once (default 64 MiB). */
  maxHeldBytes?: number;
  /** Called after each commit: the drain may start. */
  onStored?: () => void;
}

/**
 * The durable inbox with group commit: deliveries that arrive while an INSERT is in flight
 * share the next one. Each caller's promise resolves only after the row it gave has
 * committed, which is when its webhook may be answered 202; a failed INSERT rejects every
 * caller in it, each of which answers 503 so the sender retries.
 */
export class Inbox {
  private queue: Pending[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly deadlineMs: number;
  private readonly maxQueued: number;
  private readonly maxHeldBytes: number;
  private heldBytes = 0;

  constructor(private readonly deps: InboxDeps) {
    this.maxBatch = deps.maxBatch ?? 256;
    this.maxInFlight = deps.maxInFlight ?? 4;
    this.deadlineMs = deps.deadlineMs ?? 4_000;
    this.maxQueued = deps.maxQueued ?? 2_048;
    this.maxHeldBytes = deps.maxHeldBytes ?? 64 * 1024 * 1024;
  }

  /**
   * Resolves once the delivery has committed. Rejects (retryable `store.unavailable`) when
   * its INSERT failed, when it did not commit within the deadline, or at once when too many
   * deliveries are already waiting: each of those is answered 503 and sent again.
   */
  store(delivery: NewDelivery, bytes = 0): Promise<StoreResult> {
    // One delivery is always taken, however large (the body limit bounds it).
    if (this.queue.length >= this.maxQueued || (this.heldBytes > 0 && this.heldBytes + bytes > this.maxHeldBytes)) {
      return Promise.reject(
        new BelayError("store.unavailable", `the inbox holds ${this.queue.length} deliveries (${this.heldBytes} bytes) waiting for the store`, { retryable: true }),
      );
    }
    this.heldBytes += bytes;
    return new Promise<StoreResult>((resolve, reject) => {
      const p: Pending = {
        id: this.deps.newId("dlv"),
        delivery,
        bytes,
        done: false,
        timer: null,
        resolve: (r) => {
          if (p.done) return;
          p.done = true;
          clearTimeout(p.timer!);
          resolve(r);
        },
        reject: (err) => {
          if (p.done) return;
          p.done = true;
          clearTimeout(p.timer!);
          reject(err);
        },
      };
      p.timer = setTimeout(() => {
        // Still queued: it is dropped, so nothing answered 503 is stored behind the sender's back.
        const i = this.queue.indexOf(p);
        if (i >= 0) {
          this.queue.splice(i, 1);
          this.heldBytes -= p.bytes;
        }
        p.reject(new BelayError("store.unavailable", `the delivery was not stored within ${this.deadlineMs} ms`, { retryable: true }));
      }, this.deadlineMs);
      this.queue.push(p);
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.flush(batch).finally(() => {
        for (const p of batch) this.heldBytes -= p.bytes;
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    const now = this.deps.clock().toISOString();
    const rows = batch.map((p) => ({
      id: p.id,
      source: p.delivery.source,
      delivery_key: p.delivery.deliveryKey,
      event_type: p.delivery.eventType,
      received_at: now,
      alerts: p.delivery.alerts,
      meta: p.delivery.meta,
    }));
    let inserted: Set<string>;
    try {
      // One statement, so one commit for the whole batch. A repeated delivery key (a retry, or
      // twice in this batch) is skipped, not an error: its sender gets 202 and it is stored once.
      const r = await this.deps.db.query<{ id: string }>(
        `INSERT INTO ingest_deliveries (id, source, delivery_key, event_type, received_at, alerts, meta)
         SELECT id, source, delivery_key, event_type, received_at, alerts, meta
         FROM jsonb_to_recordset($1::jsonb)
           AS x(id text, source text, delivery_key text, event_type text, received_at timestamptz, alerts jsonb, meta jsonb)
         ON CONFLICT (source, delivery_key) WHERE delivery_key IS NOT NULL DO NOTHING
         RETURNING id`,
        [JSON.stringify(rows)],
      );
      inserted = new Set(r.rows.map((row) => row.id));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    for (const p of batch) p.resolve({ id: p.id, duplicate: !inserted.has(p.id) });
    this.deps.onStored?.();
  }

  /** Deliveries waiting for a commit (for metrics and shutdown). */
  get backlog(): number {
    return this.queue.length + this.inFlight;
  }
}
