import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appendAudit, verifyChain } from "../../src/audit/chain.ts";
import { GENESIS_HASH } from "../../src/audit/events.ts";
import { newId } from "../../src/ids.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

/** Tampering goes around the append-only trigger the way a superuser could. */
async function tamper(store: TestStore, sql: string, params: unknown[] = []): Promise<void> {
  await store.db.transaction(async (tx) => {
    await tx.query("ALTER TABLE audit_events DISABLE TRIGGER USER");
    await tx.query(sql, params);
    await tx.query("ALTER TABLE audit_events ENABLE TRIGGER USER");
  });
}

describe.each(["pg", "pglite"] as const)("audit chain on %s", (kind) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(kind, `audit_${kind}`);
  });
  afterAll(async () => {
    await store.close();
  });
  beforeEach(async () => {
    await tamper(store, "DELETE FROM audit_events");
    await store.db.query("UPDATE audit_head SET hash = repeat('0', 64), events = 0");
    await store.db.transaction((tx) =>
      appendAudit(
        tx,
        Array.from({ length: 10 }, (_, i) => ({
          kind: "step.approved",
          actor: `user${i}`,
          surface: "slack",
          runId: "run_1",
          incidentId: "inc_1",
          step: "restart",
          data: { n: i, note: "approve", nested: { b: 1, a: [1, 2, { z: null }] } },
        })),
        { now: new Date("2026-11-22T03:00:00Z"), newId: () => newId("evt") },
      ),
    );
  });

  async function seqs(): Promise<number[]> {
    return (await store.db.query<{ seq: number }>("SELECT seq FROM audit_events ORDER BY seq")).rows.map((r) => r.seq);
  }

  it("verifies an intact chain and gives its head hash", async () => {
    const r = await verifyChain(store.db, { pageSize: 3 });
    expect(r).toMatchObject({ ok: true, events: 10, broken: null });
    const head = (await store.db.query<{ hash: string }>("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")).rows[0]!.hash;
    expect(r.headHash).toBe(head);
    const first = (await store.db.query<{ prev_hash: string }>("SELECT prev_hash FROM audit_events ORDER BY seq LIMIT 1")).rows[0]!;
    expect(first.prev_hash).toBe(GENESIS_HASH);
  });

  it("names an edited event", async () => {
    const s = await seqs();
    await tamper(store, `UPDATE audit_events SET actor = 'mallory' WHERE seq = $1`, [s[4]]);
    const r = await verifyChain(store.db, { pageSize: 3 });
    expect(r.ok).toBe(false);
    expect(r.broken).toMatchObject({ seq: s[4], problem: "edited" });
    expect(r.broken!.message).toMatch(new RegExp(`event #${s[4]} .* was edited`));
  });

  it("names an event whose data was edited, even with the same keys", async () => {
    const s = await seqs();
    await tamper(store, `UPDATE audit_events SET data = replace(data, '"n":7', '"n":99') WHERE seq = $1`, [s[7]]);
    expect((await verifyChain(store.db)).broken).toMatchObject({ seq: s[7], problem: "edited" });
  });

  it("names the event after a deleted one", async () => {
    const s = await seqs();
    await tamper(store, `DELETE FROM audit_events WHERE seq = $1`, [s[3]]);
    const r = await verifyChain(store.db);
    expect(r.broken).toMatchObject({ seq: s[4], problem: "deleted_before" });
    expect(r.events).toBe(4); // three good events, then the broken one
  });

  it("names the first event out of place when two are swapped", async () => {
    const s = await seqs();
    await tamper(store, `UPDATE audit_events SET seq = -1 WHERE seq = $1`, [s[2]]);
    await tamper(store, `UPDATE audit_events SET seq = $1 WHERE seq = $2`, [s[2], s[5]]);
    await tamper(store, `UPDATE audit_events SET seq = $1 WHERE seq = -1`, [s[5]]);
    const r = await verifyChain(store.db);
    expect(r.broken).toMatchObject({ seq: s[2], problem: "reordered" });
    expect(r.broken!.message).toMatch(/out of order/);
  });

  it("notices events cut off the end of the chain", async () => {
    const s = await seqs();
    await tamper(store, `DELETE FROM audit_events WHERE seq >= $1`, [s[8]]);
    const r = await verifyChain(store.db);
    expect(r.broken).toMatchObject({ seq: s[7], problem: "truncated" });
    expect(r.broken!.message).toMatch(/\(8 events\) but its head records 10 events/);
  });

  it("names the first event of a rewritten chain whose hashes were recomputed from the middle on", async () => {
    // An attacker who edits an event and rewrites its own hash still breaks the link to the next one.
    const s = await seqs();
    const row = (await store.db.query<{ prev_hash: string; hash: string }>("SELECT prev_hash, hash FROM audit_events WHERE seq = $1", [s[6]])).rows[0]!;
    await tamper(store, `UPDATE audit_events SET hash = $1 WHERE seq = $2`, ["f".repeat(64), s[6]]);
    const r = await verifyChain(store.db);
    expect(row.hash).not.toBe("f".repeat(64));
    expect(r.broken).toMatchObject({ seq: s[6], problem: "edited" });
  });
});
