import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { playbook, z } from "../../src/sdk/index.ts";
import type { Db } from "../../src/store/driver.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { bob, carol, testEngine } from "../helpers/engine.ts";

/**
 * Aborting a run whose lease has only just lapsed: its owner may be alive (a slow
 * heartbeat, a database that stopped answering it) and its mutation still going. The abort
 * is only requested, and the step in flight keeps its target locks; only once the lease has
 * been expired for more than a whole lease period (on the database's clock) does an abort
 * settle the run at once. Whoever recovers the run meanwhile finds the change uncertain.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("abort while a step is in flight (Postgres)", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pg", "abort_inflight");
  });
  afterAll(async () => {
    await store.close();
  });
  const lockHolder = async (name: string) =>
    (await store.db.query<{ run_id: string }>("SELECT run_id FROM target_locks WHERE target = $1", [name])).rows[0]?.run_id ?? null;

  /** A run whose owner is still mutating `t:<on>` while the database no longer hears its heartbeat. */
  async function slowOwner(on: string) {
    const t = { active: 0, mutations: 0 };
    const pb = playbook({ id: "slow", title: "Slow", summary: "A mutation that ignores its signal.", failureModes: [], params: z.object({ on: z.string() }) }).act("change", {
      risk: "low",
      permissions: ["t:write"],
      locks: ({ params }) => [`t:${params.on}`],
      preview: ({ params }) => `change ${params.on}`,
      run: async () => {
        t.active++;
        t.mutations++;
        await sleep(4000); // goes on whatever its signal says
        t.active--;
        return { ok: true };
      },
      verify: () => true,
      rollback: () => undefined,
    });
    let silent = false;
    const db: Db = {
      ...store.db,
      query: (sql, params) => (silent && /^\s*UPDATE runs SET lease_expires_at/.test(sql) ? new Promise(() => {}) : store.db.query(sql, params)),
      transaction: (fn) => store.db.transaction(fn),
      withMigrationLock: (fn) => store.db.withMigrationLock(fn),
      close: async () => {},
    };
    const { engine: owner } = testEngine({ db, playbooks: [pb], owner: `owner-${on}` }); // lease 2 s
    const { engine: person } = testEngine({ db: store.db, playbooks: [pb], owner: `surface-${on}` });
    const { runId } = await owner.propose({ playbookId: "slow", params: { on }, requestedBy: "alice", surface: "cli" });
    const v = await owner.drive(runId);
    expect((await owner.decide({ kind: "approve", runId, step: "change", actor: bob, planHash: v.run.planHash })).accepted).toBe(true);
    await owner.tick(); // works the run in the background, once
    for (let i = 0; i < 100 && t.active === 0; i++) await sleep(20);
    expect(t.active).toBe(1);
    silent = true;
    // Wait (on the database's clock) for the lease to lapse: nothing renews it now.
    for (let i = 0; i < 100; i++) {
      const r = await store.db.query<{ lapsed: boolean }>("SELECT lease_expires_at < now() AS lapsed FROM runs WHERE id = $1", [runId]);
      if (r.rows[0]!.lapsed) break;
      await sleep(50);
    }
    const done = async () => {
      while (t.active > 0) await sleep(50);
    };
    return { t, runId, person, done };
  }

  it("an abort just after the lease lapsed is only requested: the step stays in flight and keeps its lock; a recoverer finds it uncertain", async () => {
    const { t, runId, person, done } = await slowOwner("just-lapsed");
    expect(t.active).toBe(1); // the owner's mutation is still going
    const r = await person.decide({ kind: "abort", runId, actor: carol, reason: "stop it" });
    expect(r.accepted).toBe(true);
    expect(r.message).toMatch(/abort requested/);
    expect(r.message).toMatch(/may still be changing/);
    const v = await person.view(runId);
    expect(v.run.status).toBe("running");
    expect(v.run.abortRequested).toBe("carol");
    expect(v.steps[0]!.status).toBe("running");
    expect(await lockHolder("t:just-lapsed")).toBe(runId);
    // Another process recovers the run: the change may or may not have happened, so the step is
    // uncertain and its lock stays held until a person decides (not released by the abort).
    const recovered = await person.drive(runId);
    expect(recovered.run.status).toBe("awaiting_decision");
    expect(recovered.steps[0]!.status).toBe("uncertain");
    expect(await lockHolder("t:just-lapsed")).toBe(runId);
    // The person, told so, aborts again: now the run stops and the lock is freed.
    expect((await person.decide({ kind: "abort", runId, actor: carol })).accepted).toBe(true);
    expect((await person.view(runId)).run.status).toBe("aborted");
    expect(await lockHolder("t:just-lapsed")).toBeNull();
    expect(t.mutations).toBe(1);
    await done();
  });

  it("an abort once the lease has been expired for more than a lease period settles the run at once: the step is uncertain", async () => {
    const { runId, person, done } = await slowOwner("long-gone");
    await store.db.query("UPDATE runs SET lease_expires_at = now() - interval '2500 milliseconds' WHERE id = $1", [runId]); // lease 2 s
    const r = await person.decide({ kind: "abort", runId, actor: carol });
    expect(r.accepted).toBe(true);
    const v = await person.view(runId);
    expect(v.run.status).toBe("aborted");
    expect(v.steps[0]!.status).toBe("uncertain");
    expect(await lockHolder("t:long-gone")).toBeNull();
    await done();
  });
});
