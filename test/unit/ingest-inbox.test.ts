import { describe, expect, it } from "vitest";
import { Inbox, type NewDelivery } from "../../src/ingest/inbox.ts";
import type { Queryable } from "../../src/store/driver.ts";

/*
 * The inbox's promise is what a webhook answer waits on. A store that hangs (a network
 * partition, a pool that never hands out a connection) must still get every sender an
 * answer (503) in time, and must not let waiting deliveries pile up without bound.
 */

const delivery = (i: number): NewDelivery => ({ source: "alertmanager", deliveryKey: null, eventType: "alertmanager.firing", alerts: [], meta: { i } });

/** A store whose queries never answer; it records the rows it was asked to insert. */
function hangingDb() {
  const inserted: string[] = [];
  const db: Queryable = {
    query: (_sql, params) => {
      for (const row of JSON.parse(String(params![0])) as { id: string }[]) inserted.push(row.id);
      return new Promise(() => {});
    },
  };
  return { db, inserted };
}

/** What the promise settled with within `ms` (its value, or the error it rejected with), else "still waiting". */
function settledWithin(p: Promise<unknown>, ms: number): Promise<unknown> {
  return Promise.race([p.then((v) => v, (err: unknown) => err), new Promise((r) => setTimeout(() => r("still waiting"), ms))]);
}

let seq = 0;
const newId = (prefix: string) => `${prefix}_${++seq}`;

describe("Inbox", () => {
  it("rejects (retryable) a delivery not committed within the deadline, and drops it if it was still queued", async () => {
    const { db, inserted } = hangingDb();
    const inbox = new Inbox({ db, clock: () => new Date(), newId, maxInFlight: 1, maxBatch: 1, deadlineMs: 100 });
    const started = Date.now();
    const results = await Promise.allSettled([inbox.store(delivery(1)), inbox.store(delivery(2))]);
    expect(Date.now() - started).toBeLessThan(2_000);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "store.unavailable", retryable: true });
    }
    // The first was in flight (it may yet commit: a retry is a harmless duplicate); the second never reached the store.
    expect(inserted).toHaveLength(1);
    expect(inbox.backlog).toBe(1);
  });

  it("refuses at once when too many deliveries are waiting", async () => {
    const { db } = hangingDb();
    const inbox = new Inbox({ db, clock: () => new Date(), newId, maxInFlight: 1, maxBatch: 1, maxQueued: 3, deadlineMs: 60_000 });
    const waiting = [1, 2, 3, 4].map((i) => inbox.store(delivery(i)));
    waiting.forEach((p) => p.catch(() => {}));
    await expect(inbox.store(delivery(5))).rejects.toMatchObject({ code: "store.unavailable", retryable: true });
    expect(inbox.backlog).toBe(4); // one in flight, three queued: the fifth was never held
  });

  it("refuses at once when the bodies held would pass the byte limit, and takes more once they are released", async () => {
    const { db } = hangingDb();
    const inbox = new Inbox({ db, clock: () => new Date(), newId, maxInFlight: 1, maxBatch: 1, maxHeldBytes: 1_000, deadlineMs: 300 });
    const held = [inbox.store(delivery(1), 600), inbox.store(delivery(2), 300)];
    held.forEach((p) => p.catch(() => {}));
    expect(await settledWithin(inbox.store(delivery(3), 200), 50)).toMatchObject({ code: "store.unavailable", retryable: true });
    await Promise.allSettled(held);
    // The queued one was dropped at its deadline and its bytes released; the in-flight one still holds its 600.
    const next = inbox.store(delivery(4), 300);
    next.catch(() => {});
    expect(await settledWithin(inbox.store(delivery(5), 200), 50)).toMatchObject({ code: "store.unavailable" });
    await Promise.allSettled([next]);
  });

  it("resolves each caller after the commit that holds its row", async () => {
    const rows: string[] = [];
    const db: Queryable = {
      query: async <T,>(_sql: string, params?: readonly unknown[]) => {
        const batch = JSON.parse(String(params![0])) as { id: string }[];
        rows.push(...batch.map((r) => r.id));
        return { rows: batch.map((r) => ({ id: r.id })) as T[], rowCount: batch.length };
      },
    };
    const inbox = new Inbox({ db, clock: () => new Date(), newId, deadlineMs: 100 });
    const r = await Promise.all([inbox.store(delivery(1)), inbox.store(delivery(2))]);
    expect(r.map((x) => x.duplicate)).toEqual([false, false]);
    expect(rows).toEqual(r.map((x) => x.id));
    await new Promise((res) => setTimeout(res, 150)); // no late deadline fires after a commit
  });
});
