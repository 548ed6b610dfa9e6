import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTargets } from "../../../src/targets/registry.ts";
import cancelBlocker from "../../../playbooks/postgres-cancel-blocker.ts";
import replicationLag from "../../../playbooks/postgres-replication-lag.ts";
import terminateIdle from "../../../playbooks/postgres-terminate-idle-in-transaction.ts";
import xidFreeze from "../../../playbooks/postgres-xid-wraparound-freeze.ts";
import { freshPgDatabase, openTestStore, type TestStore } from "../../helpers/db.ts";
import { testEngine } from "../../helpers/engine.ts";
import { output, runWithApprovals, stepStatuses } from "./harness.ts";
import { eventsForRun } from "../../../src/audit/chain.ts";
import { runOutcome } from "../../../src/execute/outcome.ts";

let store: TestStore;
let target: { url: string; drop: () => Promise<void> };
let DB: string;
let targets: ReturnType<typeof createTargets>;
const sessions: pg.Client[] = [];

async function session(app: string): Promise<pg.Client & { pid: number }> {
  const c = new pg.Client({ connectionString: target.url, application_name: app });
  c.on("error", () => {}); // some are terminated on purpose
  await c.connect();
  sessions.push(c);
  const pid = (await c.query("select pg_backend_pid() as pid")).rows[0].pid as number;
  return Object.assign(c, { pid });
}

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  store = await openTestStore("pg", "playbooks_pg_store");
  // The database the playbooks act on: its own, so terminating and cancelling touch nobody else's sessions.
  target = await freshPgDatabase("playbooks_pg_target");
  DB = new URL(target.url).pathname.slice(1);
  targets = createTargets({ redis: {}, postgres: { main: { url: target.url } }, kube: {} });
  const setup = await session("setup");
  await setup.query("create table orders (id int primary key, status text); insert into orders select g, 'new' from generate_series(1, 100) g");
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.end().catch(() => {})));
  await targets.close();
  await target.drop();
  await store.close();
});

const engineWith = (...playbooks: Parameters<typeof testEngine>[0]["playbooks"]) => testEngine({ db: store.db, playbooks, targets }).engine;

describe("postgres-terminate-idle-in-transaction", () => {
  it("terminates a session really left idle in transaction, naming it in the preview, only after approval", async () => {
    const leaky = await session("leaky-app");
    await leaky.query("begin");
    await leaky.query("update orders set status = 'paid' where id = 1");
    const healthy = await session("healthy-app");
    await new Promise((r) => setTimeout(r, 1_500));

    const engine = engineWith(terminateIdle);
    const run = await runWithApprovals(engine, "postgres-terminate-idle-in-transaction", { postgres: "main", olderThanMinutes: 0.02, database: DB }, {
      beforeApprove: async () => (await healthy.query("select state from pg_stat_activity where pid = $1", [leaky.pid])).rows[0]?.state,
    });
    expect(run.gates).toEqual([{ step: "terminate", before: "idle in transaction" }]);
    expect(run.previews.terminate).toMatch(
      new RegExp(`^terminate 1 backend: ${leaky.pid}\\npid ${leaky.pid} postgres@${DB} \\(leaky-app\\) idle in transaction \\d+s: update orders set status = 'paid' where id = 1$`),
    );
    expect(run.view.run.status).toBe("succeeded");
    expect(output(run.view, "idle-in-transaction").map((b: { pid: number }) => b.pid)).toEqual([leaky.pid]);
    expect(output(run.view, "terminate").signalled).toEqual([leaky.pid]);
    await expect(leaky.query("select 1")).rejects.toThrow();
    // The healthy session survives, and the terminated transaction was rolled back.
    expect((await healthy.query("select status from orders where id = 1")).rows[0].status).toBe("new");
  });

  it("changes nothing when the approver denies", async () => {
    const leaky = await session("leaky-app-2");
    await leaky.query("begin");
    await leaky.query("select 1");
    await new Promise((r) => setTimeout(r, 1_200));
    const engine = engineWith(terminateIdle);
    const run = await runWithApprovals(engine, "postgres-terminate-idle-in-transaction", { postgres: "main", olderThanMinutes: 0.01, database: DB }, { deny: ["terminate"] });
    expect(run.view.run.status).not.toBe("succeeded");
    expect((await leaky.query("select 1 as ok")).rows[0].ok).toBe(1);
    await leaky.query("rollback");
  });
});

describe("postgres-terminate-idle-in-transaction asks nobody when there is nothing to terminate", () => {
  it("a session idle in transaction on another database than asked is not put to anyone as 'terminate 0 backends'", async () => {
    const leaky = await session("leaky-elsewhere");
    await leaky.query("begin");
    await leaky.query("select 1");
    await new Promise((r) => setTimeout(r, 1_200));
    const run = await runWithApprovals(engineWith(terminateIdle), "postgres-terminate-idle-in-transaction", { postgres: "main", olderThanMinutes: 0.01, database: "not-this-one" });
    expect(run.gates).toEqual([]);
    expect(stepStatuses(run.view).terminate).toBe("skipped");
    const events = await eventsForRun(store.db, run.runId);
    expect(String(events.find((e) => e.kind === "step.skipped")?.data.reason)).toMatch(
      /^no session on not-this-one has been idle in transaction for 0\.01 min or more \(connections \d+\/\d+; [1-9]\d* idle in transaction that long in all\)$/,
    );
    const o = runOutcome(run.view.run, run.view.steps, events);
    expect([o.kind, o.fixed]).toEqual(["nothing_needed", false]);
    expect((await leaky.query("select 1 as ok")).rows[0].ok).toBe(1);
    await leaky.query("rollback");
  });

  it("verify checks connections against max_connections, not only that the sessions went", async () => {
    const leaky = await session("leaky-app-3");
    await leaky.query("begin");
    await leaky.query("select 1");
    await new Promise((r) => setTimeout(r, 1_200));
    // belowRatio 0.01: any connection at all is "still too many", so verify must fail on the symptom.
    const run = await runWithApprovals(engineWith(terminateIdle), "postgres-terminate-idle-in-transaction", { postgres: "main", olderThanMinutes: 0.01, database: DB, application: "leaky-app-3", belowRatio: 0.01 });
    expect(output(run.view, "terminate").signalled).toEqual([leaky.pid]);
    expect(run.view.run.status).toBe("failed");
    expect(run.view.run.statusReason).toMatch(/^verify of terminate failed \(1 sessions terminated; connections \d+\/\d+ \(still at or above 1% of max_connections\)\)/);
  });
});

describe("postgres-cancel-blocker", () => {
  it("cancels an active blocker's query so the waiters proceed", async () => {
    const blocker = await session("batch-job");
    const waiter = await session("api");
    await blocker.query("begin");
    await blocker.query("update orders set status = 'locked' where id = 2");
    const stuck = blocker.query("select pg_sleep(30)").catch((e: Error) => e);
    const waiting = waiter.query("update orders set status = 'shipped' where id = 2");
    await until(async () => (await targets.postgres("main").blockingTree()).roots.includes(blocker.pid));

    const engine = engineWith(cancelBlocker);
    const run = await runWithApprovals(engine, "postgres-cancel-blocker", { postgres: "main", database: DB });
    expect(output(run.view, "blocker")).toMatchObject({ pid: blocker.pid, idle: false, blocking: 1 });
    expect(run.previews["cancel-blocker"]).toMatch(new RegExp(`^cancel 1 backend: ${blocker.pid}\\npid ${blocker.pid} postgres@${DB} \\(batch-job\\) active`));
    expect(stepStatuses(run.view)).toMatchObject({ "cancel-blocker": "succeeded", "terminate-blocker": "skipped" });
    expect(String(await stuck)).toMatch(/canceling statement due to user request/);
    await blocker.query("rollback");
    await waiting;
    expect((await waiter.query("select status from orders where id = 2")).rows[0].status).toBe("shipped");
  });

  it("terminates a blocker idle in transaction (two approvers: high risk)", async () => {
    const blocker = await session("forgot-to-commit");
    const waiter = await session("api-2");
    await blocker.query("begin");
    await blocker.query("update orders set status = 'held' where id = 3");
    const waiting = waiter.query("update orders set status = 'shipped' where id = 3");
    await until(async () => (await targets.postgres("main").blockingTree()).roots.includes(blocker.pid));

    const engine = engineWith(cancelBlocker);
    const run = await runWithApprovals(engine, "postgres-cancel-blocker", { postgres: "main", database: DB });
    expect(output(run.view, "blocker")).toMatchObject({ pid: blocker.pid, idle: true });
    expect(stepStatuses(run.view)).toMatchObject({ "cancel-blocker": "skipped", "terminate-blocker": "succeeded" });
    await waiting;
    await expect(blocker.query("select 1")).rejects.toThrow();
  });
});

describe("postgres-xid-wraparound-freeze and replication lag", () => {
  it("freezes the given table, its age dropping", async () => {
    const s = await session("xid");
    for (let i = 0; i < 5; i++) await s.query("select txid_current()"); // age the table a little
    const engine = engineWith(xidFreeze);
    const run = await runWithApprovals(engine, "postgres-xid-wraparound-freeze", { postgres: "main", table: "public.orders" });
    expect(run.previews["vacuum-freeze"]).toMatch(/^VACUUM \(FREEZE\) public\.orders \(xid age \d+, \d+ MiB\)$/);
    expect(run.view.run.status).toBe("succeeded");
    const v = output(run.view, "vacuum-freeze");
    expect(v.ageAfter).toBeLessThan(v.ageBefore);
    expect(output(run.view, "xid-age").databases.some((d: { database: string }) => d.database === DB)).toBe(true);
  });

  it("diagnoses replication without asking anyone", async () => {
    const engine = engineWith(replicationLag);
    const run = await runWithApprovals(engine, "postgres-replication-lag", { postgres: "main" });
    expect(run.gates).toEqual([]);
    expect(run.view.run.status).toBe("succeeded");
    expect(output(run.view, "primary")).toMatchObject({ role: "primary" });
    expect(stepStatuses(run.view)).toMatchObject({ replica: "skipped", findings: "succeeded" });
  });
});
