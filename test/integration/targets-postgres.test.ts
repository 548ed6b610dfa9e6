import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTargets } from "../../src/targets/registry.ts";
import type { PostgresTarget } from "../../src/targets/types.ts";

const ADMIN = "postgres://postgres@127.0.0.1:5432/test";
const DB = `belay_t_targets_pg_${randomBytes(4).toString("hex")}`;
const URL = `postgres://postgres@127.0.0.1:5432/${DB}`;

let targets: ReturnType<typeof createTargets>;
let pgt: PostgresTarget;
const sessions: pg.Client[] = [];

async function session(app: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: URL, application_name: app });
  c.on("error", () => {}); // terminated on purpose by the tests
  await c.connect();
  sessions.push(c);
  return c;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  await admin((c) => c.query(`create database ${DB}`));
  targets = createTargets({ redis: {}, postgres: { main: { url: URL } }, kube: {} });
  pgt = targets.postgres("main");
  const setup = await session("setup");
  await setup.query(`create table accounts (id int primary key, balance int); insert into accounts select g, 100 from generate_series(1, 10) g`);
  await setup.query(`create table "odd ""name""; drop table accounts" (id int)`);
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.end().catch(() => {})));
  await targets.close();
  await admin((c) => c.query(`drop database if exists ${DB} with (force)`));
});

describe("postgres target", () => {
  it("counts connections against max_connections by state, user and application", async () => {
    await session("belay-test-conn");
    const c = await pgt.connections();
    expect(c.max).toBeGreaterThan(0);
    expect(c.used).toBeGreaterThan(0);
    expect(c.byApplication.find((a) => a.key === "belay-test-conn")?.count).toBe(1);
    expect(c.byDatabase.find((d) => d.key === DB)?.count).toBeGreaterThanOrEqual(2);
    expect(c.byState.reduce((n, s) => n + s.count, 0)).toBe(c.used);
  });

  it("finds a session idle in transaction and terminates it, preview first", async () => {
    const stuck = await session("belay-test-idle");
    await stuck.query("begin");
    await stuck.query("update accounts set balance = balance - 1 where id = 1");
    const pid = (await stuck.query("select pg_backend_pid() as pid")).rows[0].pid as number;
    await new Promise((r) => setTimeout(r, 1_100));

    const idle = await pgt.idleInTransaction({ olderThanSec: 1 });
    const mine = idle.find((b) => b.pid === pid)!;
    expect(mine).toMatchObject({ state: "idle in transaction", application: "belay-test-idle", database: DB });
    expect(mine.xactAgeSec).toBeGreaterThanOrEqual(1);

    const filter = { state: "idle in transaction", olderThanSec: 1, database: DB };
    const preview = await pgt.terminateBackends(filter, { dryRun: true });
    expect(preview.backends.map((b) => b.pid)).toEqual([pid]);
    expect(preview.signalled).toEqual([]);
    expect(preview.diff).toMatch(new RegExp(`^pid ${pid} postgres@${DB} \\(belay-test-idle\\) idle in transaction \\d+s: select pg_backend_pid\\(\\) as pid$`));

    const done = await pgt.terminateBackends(filter);
    expect(done.signalled).toEqual([pid]);
    await until(async () => (await pgt.idleInTransaction()).every((b) => b.pid !== pid));
    await expect(stuck.query("select 1")).rejects.toThrow();
  });

  it("refuses a filter that would signal every session", async () => {
    await expect(pgt.terminateBackends({ database: DB })).rejects.toThrow(/refusing to signal every session/);
  });

  it("builds the blocking-lock tree and cancels the blocker", async () => {
    const holder = await session("belay-test-holder");
    const waiter = await session("belay-test-waiter");
    await holder.query("begin");
    await holder.query("update accounts set balance = 0 where id = 2");
    const holderPid = (await holder.query("select pg_backend_pid() as pid")).rows[0].pid as number;
    const waiterPid = (await waiter.query("select pg_backend_pid() as pid")).rows[0].pid as number;
    // Settled at once into a value, so the cancel's rejection is never "unhandled" while we wait.
    const blocked = waiter.query("update accounts set balance = 1 where id = 2").then(
      () => null,
      (err: Error) => err,
    );
    await until(async () => (await pgt.blockingTree()).roots.includes(holderPid));

    const tree = await pgt.blockingTree();
    expect(tree.nodes.find((n) => n.pid === holderPid)).toMatchObject({ blocking: [waiterPid], blockedBy: [], blockingTotal: 1 });
    expect(tree.nodes.find((n) => n.pid === waiterPid)).toMatchObject({ blockedBy: [holderPid], state: "active" });

    // The holder is idle in transaction: a cancel has nothing to interrupt, so terminate is what ends it.
    const cancel = await pgt.cancelBackends({ pids: [waiterPid], database: DB });
    expect(cancel.signalled).toEqual([waiterPid]);
    expect((await blocked)?.message).toMatch(/canceling statement due to user request/);
    const t = await pgt.terminateBackends({ blockingOthers: true, database: DB }, { dryRun: true });
    expect(t.backends).toEqual([]); // nobody waits any more
    await holder.query("rollback");
  });

  it("reports replication (a primary without replicas), xid age and autovacuum", async () => {
    const rep = await pgt.replication();
    expect(rep.role).toBe("primary");
    expect(Array.isArray(rep.replicas)).toBe(true);
    const xid = await pgt.xidAge({ tables: 5 });
    expect(xid.databases.some((d) => d.database === DB)).toBe(true);
    expect(xid.tables.length).toBe(5);
    expect(xid.freezeMaxAge).toBeGreaterThan(0);
    const av = await pgt.autovacuum();
    expect(typeof av.enabled).toBe("boolean");
    expect(av.tables.some((t) => t.table === "public.accounts")).toBe(true);
  });

  it("VACUUM (FREEZE)s one table, quoting a hostile name safely", async () => {
    const name = `odd "name"; drop table accounts`;
    const preview = await pgt.vacuumFreeze(`public.${name}`, { dryRun: true });
    expect(preview.table).toBe(`public."odd ""name""; drop table accounts"`);
    expect(preview.ageAfter).toBeNull();
    const s = await session("setup2");
    await s.query("select txid_current()");
    const done = await pgt.vacuumFreeze(`public.${name}`);
    expect(done.ageAfter).not.toBeNull();
    expect(done.ageAfter!).toBeLessThanOrEqual(done.ageBefore);
    expect((await s.query("select count(*)::int as n from accounts")).rows[0].n).toBe(10);
    await expect(pgt.vacuumFreeze("public.nope")).rejects.toThrow(/no table public.nope/);
  });
});
