import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetConfig } from "../../src/config.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { createTargets } from "../../src/targets/registry.ts";
import { freshPgDatabase, openTestStore, PG_ADMIN_URL, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { output, runWithApprovals } from "./playbooks/harness.ts";

/*
 * belay as a non-superuser role of this test's own (pg_monitor to see every session,
 * pg_signal_backend to terminate them), on a database of its own. At the connection limit
 * (here the role's own CONNECTION LIMIT 0, so the shared server's settings stay untouched)
 * a new session is refused; the standing one belay took at start still works.
 */
const tag = randomBytes(4).toString("hex");
const BELAY_ROLE = `belay_t_${tag}`;
const APP_ROLE = `app_t_${tag}`;

let store: TestStore;
let db: { url: string; drop: () => Promise<void> };
let admin: pg.Client;
let targets: ReturnType<typeof createTargets>;
let h: IngestHarness;
const sessions: pg.Client[] = [];

const asRole = (url: string, role: string) => {
  const u = new URL(url);
  u.username = role;
  return u.toString();
};

beforeAll(async () => {
  store = await openTestStore("pg", "targets_standing");
  db = await freshPgDatabase("targets_standing_target");
  admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE ROLE ${BELAY_ROLE} LOGIN IN ROLE pg_monitor, pg_signal_backend`);
  await admin.query(`CREATE ROLE ${APP_ROLE} LOGIN`);
  const config: TargetConfig = { redis: {}, postgres: { main: { url: asRole(db.url, BELAY_ROLE), labels: { instance: "127.0.0.1:9187" } } }, kube: {}, prometheus: {} };
  targets = createTargets(config);
  // Ingestion with no playbooks: it only correlates the alert to the target (and so holds a connection).
  h = await startIngest({ db: store.db, playbooks: [], notifier: recordingNotifier().notifier, pagerduty: null, startWorker: true, extra: { targets: config, holder: targets } });
});
afterAll(async () => {
  await h.close();
  await Promise.all(sessions.map((s) => s.end().catch(() => {})));
  await targets.close();
  await db.drop();
  await admin.query(`DROP ROLE IF EXISTS ${BELAY_ROLE}`);
  await admin.query(`DROP ROLE IF EXISTS ${APP_ROLE}`);
  await admin.end();
  await store.close();
});

async function belaySessions(): Promise<number> {
  return (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [BELAY_ROLE])).rows[0].n;
}

describe("connection-limit incidents stay workable", () => {
  it("belay holds a session to a configured Postgres target from start: a limit reached before any alert still leaves belay one", async () => {
    // No incident yet: a connection storm can take the last slot before the alert fires.
    for (let i = 0; i < 100 && (await belaySessions()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await belaySessions(), "belay's standing session before any incident").toBe(1);
    await admin.query(`ALTER ROLE ${BELAY_ROLE} CONNECTION LIMIT 0`);
    try {
      const refused = new pg.Client({ connectionString: asRole(db.url, BELAY_ROLE) });
      await expect(refused.connect()).rejects.toThrow(/too many connections for role/);
      const c = await targets.postgres("main").connections();
      expect(c.used).toBeGreaterThanOrEqual(1);
    } finally {
      await admin.query(`ALTER ROLE ${BELAY_ROLE} CONNECTION LIMIT -1`);
    }
  });

  it("an open incident about a Postgres target holds a session; at the limit the terminate playbook still diagnoses and terminates", async () => {
    await h.postAm(
      amPayload({
        groupKey: '{}:{alertname="PostgresqlTooManyConnections"}',
        alerts: [amAlert({ alertname: "PostgresqlTooManyConnections", labels: { instance: "127.0.0.1:9187", job: "postgres", server: "127.0.0.1:5432", severity: "warning" } })],
      }),
    );
    await h.settle();
    for (let i = 0; i < 100 && (await belaySessions()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await belaySessions()).toBe(1);

    // The limit is hit: no new session for belay's role.
    await admin.query(`ALTER ROLE ${BELAY_ROLE} CONNECTION LIMIT 0`);
    const refused = new pg.Client({ connectionString: asRole(db.url, BELAY_ROLE) });
    await expect(refused.connect()).rejects.toThrow(/too many connections for role/);

    const leaky = new pg.Client({ connectionString: asRole(db.url, APP_ROLE), application_name: "leaky-app" });
    leaky.on("error", () => {});
    await leaky.connect();
    sessions.push(leaky);
    const pid = (await leaky.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
    await leaky.query("BEGIN");
    await leaky.query("SELECT 1");
    await new Promise((r) => setTimeout(r, 1_200));

    const library = await loadPlaybooks("playbooks");
    const { engine } = testEngine({ db: store.db, playbooks: [library.get("postgres-terminate-idle-in-transaction")!], targets });
    const DB = new URL(db.url).pathname.slice(1);
    const run = await runWithApprovals(engine, "postgres-terminate-idle-in-transaction", { postgres: "main", olderThanMinutes: 0.01, database: DB });
    // pg_monitor: belay sees another role's session and what it ran; pg_signal_backend: it may end it.
    const seen = output<{ pid: number; user: string; query: string }[]>(run.view, "idle-in-transaction");
    expect(seen.map((b) => b.pid)).toContain(pid);
    expect(seen.find((b) => b.pid === pid)).toMatchObject({ user: APP_ROLE, query: "SELECT 1" });
    expect(output(run.view, "terminate").signalled).toEqual([pid]);
    await expect(leaky.query("SELECT 1")).rejects.toThrow();
    await admin.query(`ALTER ROLE ${BELAY_ROLE} CONNECTION LIMIT -1`);
  });
});
