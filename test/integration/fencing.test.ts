import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun, verifyChain } from "../../src/audit/chain.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { secret } from "../../src/sdk/secret.ts";
import type { Engine } from "../../src/execute/engine.ts";
import type { Db } from "../../src/store/driver.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { bob, carol, testEngine } from "../helpers/engine.ts";

/**
 * Fencing: target locks belong to the run (a timed-out or interrupted mutation keeps them),
 * leases and locks are judged on the database's clock, a lost lease aborts the step in
 * flight, a retry needs fresh approvals, an abort is checked in the commit, execution inputs
 * are never redacted, and unstorable characters cannot wedge a run.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Resolves with what `p` gave, or "still going" after ms (the promise goes on). */
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, sleep(ms).then(() => "still going" as const)]);

/** A target whose mutations are counted and checked for overlap. */
function target() {
  return { active: 0, maxActive: 0, mutations: 0, signals: [] as AbortSignal[], lockHolderAtVerify: [] as (string | null)[] };
}

function mutatingPlaybook(t: ReturnType<typeof target>, opts: { holdMs: number; timeoutMs?: number; ignoreSignal?: boolean; onVerify?: () => Promise<void> }) {
  return playbook({ id: "mutate", title: "Mutate", summary: "One locked mutation.", failureModes: [], params: z.object({ on: z.string().default("t1") }) })
    .diagnose("look", ({ params }) => ({ on: params.on }))
    .act("change", {
      risk: "low",
      permissions: ["t:write"],
      locks: ({ params }) => [`t:${params.on}`],
      timeoutMs: opts.timeoutMs ?? 10_000,
      preview: ({ params }) => `change ${params.on}`,
      run: async ({ signal }) => {
        t.signals.push(signal);
        t.active++;
        t.maxActive = Math.max(t.maxActive, t.active);
        t.mutations++;
        try {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, opts.holdMs);
            if (!opts.ignoreSignal) signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
          });
        } finally {
          t.active--;
        }
        return { changed: true };
      },
      verify: async () => {
        await opts.onVerify?.();
        return true;
      },
      rollback: () => undefined,
    });
}

describe("fencing (Postgres)", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pg", "fencing");
  });
  afterAll(async () => {
    await store.close();
  });

  async function proposeApproved(engine: Engine, params: Record<string, unknown> = {}): Promise<string> {
    const { runId } = await engine.propose({ playbookId: "mutate", params, requestedBy: "alice", surface: "cli" });
    const v = await engine.drive(runId);
    expect(v.run.status).toBe("awaiting_approval");
    expect((await engine.decide({ kind: "approve", runId, step: "change", actor: bob, planHash: v.run.planHash })).accepted).toBe(true);
    return runId;
  }
  const lockHolder = async (name: string) =>
    (await store.db.query<{ run_id: string }>("SELECT run_id FROM target_locks WHERE target = $1", [name])).rows[0]?.run_id ?? null;

  it("a timed-out act step stays uncertain and keeps its lock: a second run on the target does not mutate concurrently", async () => {
    const t = target();
    const pb = mutatingPlaybook(t, { holdMs: 1500, timeoutMs: 200, ignoreSignal: true, onVerify: undefined });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const { engine: other } = testEngine({ db: store.db, playbooks: [pb], owner: "replica-2" });
    const a = await proposeApproved(engine, { on: "timeout" });
    const b = await proposeApproved(other, { on: "timeout" });
    const va = await engine.drive(a);
    expect(va.run.status).toBe("awaiting_decision");
    expect(va.steps[1]!.status).toBe("uncertain");
    expect(t.active).toBe(1); // a's mutation is still going
    const second = other.drive(b);
    expect(await within(second, 800)).toBe("still going");
    expect(t.maxActive).toBe(1);
    expect(t.mutations).toBe(1);
    expect((await other.view(b)).run.statusReason).toMatch(new RegExp(`held by run ${a}`));
    // A person checks a's change has finished and skips the step: the lock is given back and b goes on.
    while (t.active > 0) await sleep(50);
    expect((await engine.decide({ kind: "skip", runId: a, step: "change", actor: carol })).accepted).toBe(true);
    expect(await lockHolder("t:timeout")).not.toBe(a);
    expect((await second).steps[1]!.status).toBe("uncertain"); // b's own mutation ran (and timed out too)
    expect(t.maxActive).toBe(1);
    expect(t.mutations).toBe(2);
    expect((await engine.drive(a)).run.status).toBe("succeeded");
    while (t.active > 0) await sleep(50);
    await other.decide({ kind: "abort", runId: b, actor: carol });
  });

  it("a run recovered in verifying re-takes its lock before verify; another run waits meanwhile", async () => {
    const t = target();
    let crash = true;
    const holders: (string | null)[] = [];
    const pb = mutatingPlaybook(t, { holdMs: 10, onVerify: async () => void holders.push(await lockHolder("t:verifying")) });
    const { engine } = testEngine({
      db: store.db,
      playbooks: [pb],
      extra: {
        onPhase: (phase) => {
          // The process stops right after recording the mutation (as if it had died there).
          if (phase === "act.recorded" && crash) throw new Error("simulated crash after act.recorded");
        },
      },
    });
    const { engine: other } = testEngine({ db: store.db, playbooks: [pb], owner: "replica-2" });
    const a = await proposeApproved(engine, { on: "verifying" });
    await engine.tick(); // works a in the background, once: nothing picks it up again in this process
    for (let i = 0; i < 100 && (await engine.view(a)).steps[1]!.status !== "verifying"; i++) await sleep(20);
    crash = false;
    const va = await engine.view(a);
    expect(va.steps[1]!.status).toBe("verifying");
    expect(va.run.status).toBe("running");
    await sleep(2300); // a's lease (2 s) runs out: nobody renews it
    const b = await proposeApproved(other, { on: "verifying" });
    const second = other.drive(b);
    expect(await within(second, 800)).toBe("still going"); // a has not settled: its lock is still a's
    expect(t.mutations).toBe(1);
    const { engine: recoverer } = testEngine({ db: store.db, playbooks: [pb], owner: "replica-3" });
    expect((await recoverer.drive(a)).run.status).toBe("succeeded");
    expect(holders[0]).toBe(a); // verify ran under a's re-taken lock
    expect((await second).run.status).toBe("succeeded");
    expect(t.maxActive).toBe(1);
    expect(t.mutations).toBe(2);
  });

  it("a replica whose clock is 20 s ahead neither steals a live lease nor takes a held lock", async () => {
    const t = target();
    const pb = mutatingPlaybook(t, { holdMs: 3000 });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const ahead = () => new Date(Date.now() + 20_000);
    const { engine: skewed } = testEngine({ db: store.db, playbooks: [pb], owner: "skewed", clock: ahead });
    const a = await proposeApproved(engine, { on: "skew" });
    const first = engine.drive(a);
    await sleep(300); // a is inside its mutation, holding t:skew and its lease
    await skewed.tick();
    expect((await engine.view(a)).run.leaseOwner).not.toBe("skewed"); // a's lease is live on the database's clock
    const b = await proposeApproved(skewed, { on: "skew" });
    const second = skewed.drive(b);
    expect(await within(second, 1000)).toBe("still going");
    expect(t.maxActive).toBe(1);
    expect((await first).run.status).toBe("succeeded");
    expect((await second).run.status).toBe("succeeded");
    expect(t.maxActive).toBe(1);
    const started = (await eventsForRun(store.db, a)).filter((e) => e.kind === "step.started" && e.step === "change");
    expect(started).toHaveLength(1); // never run twice
  });

  it("a lost lease aborts the running step's signal", async () => {
    const t = target();
    const pb = mutatingPlaybook(t, { holdMs: 4000 });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const a = await proposeApproved(engine, { on: "lost" });
    const working = engine.drive(a);
    await sleep(300);
    expect(t.signals).toHaveLength(1);
    // Another process takes the run over (as if this one had stalled past its lease).
    await store.db.query("UPDATE runs SET lease_owner = 'thief', lease_expires_at = now() + interval '1 hour' WHERE id = $1", [a]);
    await sleep(1200); // the heartbeat (every 2/3 s) finds the lease gone
    expect(t.signals[0]!.aborted).toBe(true);
    expect(t.active).toBe(0);
    await store.db.query("UPDATE runs SET status = 'aborted', lease_owner = NULL WHERE id = $1", [a]); // lets drive() return
    await working;
  });

  it("a lease renewal the database never answers loses the lease: the running step's signal aborts within the lease", async () => {
    const t = target();
    const pb = mutatingPlaybook(t, { holdMs: 8000 });
    // The real store, except that once `silent` is set the lease renewal gets no answer at all
    // (a partition or a failover: no error, no RST, the query just never returns).
    let silent = false;
    const hung: string[] = [];
    const db: Db = {
      ...store.db,
      query: (sql, params) => {
        if (silent && /^\s*UPDATE runs SET lease_expires_at/.test(sql)) {
          hung.push(sql);
          return new Promise(() => {});
        }
        return store.db.query(sql, params);
      },
      transaction: (fn) => store.db.transaction(fn),
      withMigrationLock: (fn) => store.db.withMigrationLock(fn),
      close: async () => {},
    };
    const { engine } = testEngine({ db, playbooks: [pb] }); // lease 2 s
    const a = await proposeApproved(engine, { on: "silent" });
    const working = engine.drive(a);
    for (let i = 0; i < 100 && t.signals.length === 0; i++) await sleep(20);
    expect(t.signals).toHaveLength(1);
    await sleep(800); // at least one renewal has landed
    silent = true;
    const from = performance.now();
    while (!t.signals[0]!.aborted && performance.now() - from < 4000) await sleep(20);
    expect(hung.length).toBeGreaterThan(0);
    expect(t.signals[0]!.aborted).toBe(true);
    // Within the lease: 0.8 of it after the last renewal that landed was sent.
    expect(performance.now() - from).toBeLessThan(2000);
    silent = false;
    // The database let the lease lapse; whoever claims the run next finds the change uncertain.
    const v = await working;
    expect(v.run.status).toBe("awaiting_decision");
    expect(v.steps[1]!.status).toBe("uncertain");
    expect(t.mutations).toBe(1);
    expect((await engine.decide({ kind: "abort", runId: a, actor: carol })).accepted).toBe(true);
  });

  it("retrying an uncertain step needs fresh approvals", async () => {
    const t = target();
    const pb = mutatingPlaybook(t, { holdMs: 300, timeoutMs: 100, ignoreSignal: true });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const a = await proposeApproved(engine, { on: "retry" });
    expect((await engine.drive(a)).steps[1]!.status).toBe("uncertain");
    await sleep(400);
    expect((await engine.decide({ kind: "retry", runId: a, step: "change", actor: carol })).accepted).toBe(true);
    const v = await engine.drive(a);
    expect(v.run.status).toBe("awaiting_approval"); // bob's approval was for the first attempt
    expect(t.mutations).toBe(1);
    expect((await engine.decide({ kind: "approve", runId: a, step: "change", actor: bob, planHash: v.run.planHash })).accepted).toBe(true);
    await sleep(10);
    const done = await engine.drive(a);
    expect(done.run.status === "succeeded" || done.steps[1]!.status === "uncertain").toBe(true);
    expect(t.mutations).toBe(2);
  });

  it("an abort requested after the last commit is refused in the commit that would start the step", async () => {
    const t = target();
    const pb = mutatingPlaybook(t, { holdMs: 10 });
    let armed = false;
    let engine!: Engine;
    ({ engine } = testEngine({
      db: store.db,
      playbooks: [pb],
      extra: {
        onPhase: async (phase, at) => {
          if (armed && phase === "step.before" && at.step === "change") {
            armed = false;
            expect((await engine.decide({ kind: "abort", runId: at.runId, actor: bob, reason: "stop" })).accepted).toBe(true);
          }
        },
      },
    }));
    const a = await proposeApproved(engine, { on: "abort" });
    armed = true;
    const v = await engine.drive(a);
    expect(v.run.status).toBe("aborted");
    expect(t.mutations).toBe(0);
    expect(await lockHolder("t:abort")).toBeNull();
  });

  it("a DSN param reaches its step intact, and a later step (in another process) reads an earlier step's secret-bearing output intact", async () => {
    const seen: Record<string, unknown>[] = [];
    const dsn = "postgres://app:s3cret-pw@direct:5432/app";
    const pb = playbook({
      id: "dsn",
      title: "DSN",
      summary: "Reads a DSN, then uses it.",
      failureModes: [],
      params: z.object({ dsn: z.string(), token: secret(z.string()) }),
    })
      .diagnose("read", ({ params }) => {
        seen.push({ step: "read", dsn: params.dsn, token: params.token });
        return { url: params.dsn, header: `Bearer ${params.token}` };
      })
      .act("write", {
        risk: "low",
        permissions: ["cm:write"],
        locks: { none: "a test step: it changes nothing another run could change" },
        preview: ({ params }) => ({ summary: "write the DSN back into the ConfigMap", data: { value: params.dsn } }),
        run: ({ params, outputs, previewData }) => {
          seen.push({ step: "write", dsn: params.dsn, url: outputs.read.url, header: outputs.read.header, token: params.token, previewed: (previewData as { value: string }).value });
          return { ok: true };
        },
        verify: () => true,
        irreversible: "a test",
      });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const { runId } = await engine.propose({ playbookId: "dsn", params: { dsn, token: "tok-123456789" }, requestedBy: "alice", surface: "cli" });
    const v = await engine.drive(runId);
    expect(v.steps[0]!.output).toEqual({ url: "postgres://app:[redacted]@direct:5432/app", header: "Bearer [redacted]" }); // the store copy
    // Another replica (a fresh engine with the same key) approves and finishes the run.
    const { engine: other } = testEngine({ db: store.db, playbooks: [pb], owner: "replica-2" });
    await other.decide({ kind: "approve", runId, step: "write", actor: bob, planHash: v.run.planHash });
    expect((await other.drive(runId)).run.status).toBe("succeeded");
    expect(seen).toEqual([
      { step: "read", dsn, token: "tok-123456789" },
      { step: "write", dsn, url: dsn, header: "Bearer tok-123456789", token: "tok-123456789", previewed: dsn },
    ]);
    const everything = JSON.stringify([
      (await store.db.query("SELECT * FROM runs WHERE id = $1", [runId])).rows,
      (await store.db.query("SELECT * FROM steps WHERE run_id = $1", [runId])).rows.map((r) => ({ ...r, sealed_output: null, sealed_preview_data: null })),
      (await store.db.query("SELECT * FROM audit_events WHERE run_id = $1", [runId])).rows,
    ]);
    expect(everything).not.toContain("s3cret-pw");
    expect(everything).not.toContain("tok-123456789");
    expect((await store.db.query("SELECT count(*)::int AS n FROM run_secrets WHERE run_id = $1", [runId])).rows[0]).toEqual({ n: 0 });
  });

  it("a commit under a stale lease epoch is refused, even from the same owner", async () => {
    const t = target();
    const { engine } = testEngine({ db: store.db, playbooks: [mutatingPlaybook(t, { holdMs: 10 })], owner: "same-owner" });
    const { runId } = await engine.propose({ playbookId: "mutate", params: { on: "epoch" }, requestedBy: "alice", surface: "cli" });
    const { claimRuns } = await import("../../src/store/runs.ts");
    const [first] = await claimRuns(store.db, { owner: "same-owner", leaseMs: -1000, limit: 1, runId }); // claimed, and already lapsed
    const [second] = await claimRuns(store.db, { owner: "same-owner", leaseMs: 60_000, limit: 1, runId }); // the same process claims it again
    expect(second!.epoch).toBe(first!.epoch + 1);
    const commit = (epoch: number) =>
      store.db.query("SELECT belay_runner_commit($1::jsonb)", [
        JSON.stringify({ run: runId, owner: "same-owner", epoch, now: new Date().toISOString(), steps: [{ idx: 0, patch: { status: "running" } }], run_patch: {}, events: [] }),
      ]);
    await expect(commit(first!.epoch)).rejects.toMatchObject({ code: "BL001" });
    await expect(commit(second!.epoch)).resolves.toBeDefined();
    await store.db.query("UPDATE runs SET status = 'aborted', lease_owner = NULL WHERE id = $1", [runId]);
  });

  it("step errors and run status reasons are redacted before they are stored", async () => {
    const pb = playbook({ id: "leaky", title: "Leaky", summary: "An error with a credential.", failureModes: [], params: z.object({}) }).diagnose("connect", () => {
      throw new Error("connecting to redis://:hunter2-pw@cache:6379 failed (Authorization: Bearer abcdefghijklmnop)");
    });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const { runId } = await engine.propose({ playbookId: "leaky", params: {}, requestedBy: "alice", surface: "cli" });
    const v = await engine.drive(runId);
    expect(v.run.status).toBe("failed");
    expect(v.steps[0]!.error).toContain("redis://:[redacted]@cache:6379");
    const stored = JSON.stringify([
      (await store.db.query("SELECT status_reason FROM runs WHERE id = $1", [runId])).rows,
      (await store.db.query("SELECT error FROM steps WHERE run_id = $1", [runId])).rows,
      (await store.db.query("SELECT data FROM audit_events WHERE run_id = $1", [runId])).rows,
    ]);
    expect(stored).not.toContain("hunter2-pw");
    expect(stored).not.toContain("abcdefghijklmnop");
  });

  it("a NUL character or a lone surrogate in an output or an error does not wedge the run; the chain verifies", async () => {
    const pb = playbook({ id: "nul", title: "NUL", summary: "Unstorable text.", failureModes: [], params: z.object({ fail: z.boolean().default(false) }) })
      .diagnose("out", () => ({ text: "a\u0000b", lone: "x\ud800y", tail: "\udc00", [`k\u0000`]: 1, pair: "🚀" }))
      .diagnose("err", ({ params }) => {
        if (params.fail) throw new Error("bad \u0000 byte and \ud83d half");
        return "ok";
      });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const ok = await engine.propose({ playbookId: "nul", params: {}, requestedBy: "alice", surface: "cli" });
    const v = await within(engine.drive(ok.runId), 5000);
    expect(v).not.toBe("still going");
    const view = await engine.view(ok.runId);
    expect(view.run.status).toBe("succeeded");
    expect(view.steps[0]!.output).toEqual({ text: "a\\u0000b", lone: "x\\ud800y", tail: "\\udc00", "k\\u0000": 1, pair: "🚀" });
    const bad = await engine.propose({ playbookId: "nul", params: { fail: true }, requestedBy: "alice", surface: "cli" });
    expect(await within(engine.drive(bad.runId), 5000)).not.toBe("still going");
    const failed = await engine.view(bad.runId);
    expect(failed.run.status).toBe("failed");
    expect(failed.steps[1]!.error).toBe("bad \\u0000 byte and \\ud83d half");
    const escaped = (await eventsForRun(store.db, ok.runId)).find((e) => e.kind === "step.succeeded" && e.step === "out")!;
    expect(escaped.data.unstorableEscaped).toBe(true);
    const chain = await verifyChain(store.db);
    expect(chain.ok, chain.broken?.message).toBe(true);
  });
});

