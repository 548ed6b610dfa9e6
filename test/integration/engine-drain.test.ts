import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { playbook, z } from "../../src/sdk/index.ts";
import { claimRuns } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { alice, bob, testEngine } from "../helpers/engine.ts";
import type { Engine } from "../../src/execute/engine.ts";

/**
 * Engine.drain, the engine half of `belay serve`'s shutdown (the child-process test is
 * serve-shutdown.test.ts): a wait step is handed over at once, even mid-pause; an act step
 * that outlasts the drain timeout is given up (its lease left to run out, as after a crash), and
 * its next owner finds it uncertain.
 */
const waitPlaybook = playbook({
  id: "long-wait",
  title: "Waits for a condition that does not come",
  summary: "Polls every minute.",
  failureModes: ["redis-maxmemory"],
  params: z.object({}),
}).wait("never", { timeoutMs: 600_000, intervalMs: 60_000, until: () => false });

let release: (() => void) | null = null;
const stuckActPlaybook = playbook({
  id: "stuck-act",
  title: "An act step that does not finish",
  summary: "Hangs until the test lets it go.",
  failureModes: ["redis-maxmemory"],
  params: z.object({}),
}).act("hang", {
  risk: "low",
  permissions: ["test:hang"],
  locks: { none: "a test step: it changes nothing another run could change" },
  preview: () => "hang",
  run: () => new Promise<void>((r) => (release = r)),
  verify: () => true,
  irreversible: "a test step",
});

let changes = 0;
const countedActPlaybook = playbook({
  id: "counted-act",
  title: "An act step that counts its changes",
  summary: "Counts how often its change ran.",
  failureModes: ["redis-maxmemory"],
  params: z.object({}),
}).act("change", {
  risk: "low",
  permissions: ["test:change"],
  locks: { none: "a test step: it changes nothing another run could change" },
  preview: () => "change",
  run: () => {
    changes += 1;
  },
  verify: () => true,
  irreversible: "a test step",
});

let store: TestStore;
beforeAll(async () => {
  store = await openTestStore("pg", "engine_drain");
});
afterAll(async () => {
  release?.();
  await store?.close();
});

async function until(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
const stepStatus = async (runId: string) => (await store.db.query<{ status: string }>("SELECT status FROM steps WHERE run_id = $1", [runId])).rows[0]?.status;

describe("Engine.drain", () => {
  it("hands a wait step over at once, mid-pause, with its lease released", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [waitPlaybook], extra: { leaseMs: 30_000 } });
    engine.start();
    const { runId } = await engine.propose({ playbookId: "long-wait", params: {}, requestedBy: alice.person, surface: "cli" });
    await until(async () => (await stepStatus(runId)) === "running");
    await new Promise((r) => setTimeout(r, 100)); // into the minute-long pause
    const began = performance.now();
    const report = await engine.drain(5_000);
    expect(performance.now() - began).toBeLessThan(1_000);
    expect(report).toEqual({ handedOver: [runId], finished: [], abandoned: [] });
    const [claim] = await claimRuns(store.db, { owner: "other-replica", leaseMs: 30_000, limit: 1, runId });
    expect(claim).toMatchObject({ id: runId, previousStatus: "running" });
  });

  it("gives up an act step that outlasts the drain timeout; its next owner finds it uncertain", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [stuckActPlaybook], extra: { leaseMs: 30_000 } });
    engine.start();
    const { runId } = await engine.propose({ playbookId: "stuck-act", params: {}, requestedBy: alice.person, surface: "cli" });
    await until(async () => (await engine.view(runId)).run.status === "awaiting_approval");
    const view = await engine.view(runId);
    expect(await engine.decide({ kind: "approve", runId, step: "hang", actor: bob, planHash: view.run.planHash })).toMatchObject({ accepted: true });
    await until(async () => (await stepStatus(runId)) === "running");
    const began = performance.now();
    const report = await engine.drain(300);
    expect(performance.now() - began).toBeLessThan(2_000);
    expect(report).toEqual({ handedOver: [], finished: [], abandoned: [runId] });

    // Its change may still be in flight at the target (the step never returned): the lease is
    // left to run out as after a crash, never released, so nobody takes the run meanwhile.
    const held = await store.db.query<{ held: boolean }>("SELECT lease_expires_at > now() AS held FROM runs WHERE id = $1", [runId]);
    expect(held.rows[0]!.held).toBe(true);
    // Once it has run out, another replica takes it and, as after a crash, does not repeat the mutation.
    await store.db.query("UPDATE runs SET lease_expires_at = now() - interval '1 millisecond' WHERE id = $1", [runId]);
    const next = testEngine({ db: store.db, playbooks: [stuckActPlaybook], owner: "next-owner", extra: { leaseMs: 30_000 } }).engine;
    const after = await next.drive(runId);
    expect(after.steps[0]!.status).toBe("uncertain");
    expect(after.run.status).toBe("awaiting_decision");
  });

  it("hands over an act step whose change had not started when the drain began, instead of starting it", async () => {
    // Approved, claimed, past the runner's drain check, but not yet marked running: the drain
    // begins here. Before, the step went on to make its change during the drain (and, if that
    // outlasted the timeout, left it uncertain); now it is handed over untouched.
    changes = 0;
    let armed = false;
    let draining: ReturnType<Engine["drain"]> | null = null;
    const { engine } = testEngine({
      db: store.db,
      playbooks: [countedActPlaybook],
      extra: {
        leaseMs: 30_000,
        onPhase: async (phase, at) => {
          if (!armed || phase !== "step.before" || at.step !== "change") return;
          armed = false;
          draining = engine.drain(5_000);
          await new Promise((r) => setTimeout(r, 200));
        },
      },
    });
    engine.start();
    const { runId } = await engine.propose({ playbookId: "counted-act", params: {}, requestedBy: alice.person, surface: "cli" });
    await until(async () => (await engine.view(runId)).run.status === "awaiting_approval");
    const view = await engine.view(runId);
    armed = true;
    expect(await engine.decide({ kind: "approve", runId, step: "change", actor: bob, planHash: view.run.planHash })).toMatchObject({ accepted: true });
    await until(async () => draining !== null);
    expect(await draining).toEqual({ handedOver: [runId], finished: [], abandoned: [] });
    expect(changes).toBe(0);
    expect(await stepStatus(runId)).not.toBe("running");

    // Another replica claims it at once (the lease was released) and makes the change, once.
    const next = testEngine({ db: store.db, playbooks: [countedActPlaybook], owner: "next-owner-2", extra: { leaseMs: 30_000 } }).engine;
    const after = await next.drive(runId);
    expect(after.steps[0]!.status).toBe("succeeded");
    expect(changes).toBe(1);
  });

  it("counts a claim the store is slow to answer against the drain timeout", async () => {
    // The store stops answering the poll's claim (a partition, a failover). Before, the drain
    // waited for that claim (up to the pool's 65 s query timeout) before its own timeout began.
    let slow = false;
    let claimSent = false;
    const db = Object.create(store.db) as typeof store.db;
    db.query = (async (sql: string, params?: readonly unknown[]) => {
      if (slow && sql.includes("WITH due AS")) {
        claimSent = true;
        await new Promise((r) => setTimeout(r, 4_000));
      }
      return store.db.query(sql, params);
    }) as typeof db.query;
    const { engine } = testEngine({ db, playbooks: [waitPlaybook], extra: { leaseMs: 30_000 } });
    slow = true;
    engine.start();
    await until(async () => claimSent);
    const began = performance.now();
    await engine.drain(300);
    expect(performance.now() - began).toBeLessThan(2_000);
  });
});
