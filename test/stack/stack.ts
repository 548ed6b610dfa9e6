import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Db } from "../../src/store/driver.ts";
import { openPg } from "../../src/store/pg.ts";
import { freshPgDatabase } from "../helpers/db.ts";
import { freePort, kill9, start, stop, stopAll, waitFor, watchdog, type Proc } from "./procs.ts";
import { rulesFile } from "./rules.ts";
import { startSlackRecorder, type SlackRecorder } from "./slack-recorder.ts";

/**
 * A real monitoring stack on loopback, all of it this suite's own: a Redis, a Postgres
 * cluster, Debian's redis and postgres exporters, Prometheus (1 s scrape and evaluation,
 * the published rules), Alertmanager (webhook to belay with a bearer token) and
 * `belay serve` as a child process, with Slack's Web API answered by a local recorder.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const SIGNING_SECRET = "stack-signing-secret-0123456789abcdef";
export const AM_TOKEN = "stack-alertmanager-token";
export const CHANNEL = "C0STACK";
const PG_VERSION = () => readdirSync("/etc/postgresql").sort((a, b) => Number(a) - Number(b)).at(-1)!;
const CLUSTER_PREFIX = "belaystack";
/**
 * The stack's Postgres slots, set up as the README tells an operator to ("Give belay a
 * connection slot of its own"): of max_connections 40, superuser_reserved_connections (3)
 * are the superuser exporter's; the application role may hold 32, so at its limit the
 * exporter and belay's role (standing session, a second pooled one, a cancel) still get in:
 * 32 + 1 + 3 < 37. The app alone still fires the published PostgresqlTooManyConnections
 * (more than 0.8 x 40 = 32 sessions counted, the exporter's own included).
 */
export const PG_MAX_CONNECTIONS = 40;
export const APP_CONNECTION_LIMIT = 32;
/** belay's default, stated: a resolved incident about a target is reopened by a related alert within it. */
export const RESOLVE_SETTLE_SECONDS = 30;

const BINARIES = ["redis-server", "prometheus", "prometheus-alertmanager", "prometheus-redis-exporter", "prometheus-postgres-exporter", "pg_createcluster", "pg_ctlcluster", "pg_dropcluster"];

/** Why this machine cannot run the stack, or null. */
export function stackUnavailable(): string | null {
  const missing = BINARIES.filter((b) => !onPath(b));
  if (missing.length) return `missing ${missing.join(", ")} (.ci/run installs them)`;
  if (process.getuid?.() !== 0) return "pg_createcluster needs root";
  return null;
}

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

const run = (cmd: string, args: string[], timeout = 60_000) => execFileSync(cmd, args, { timeout, stdio: ["ignore", "pipe", "pipe"] }).toString();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Clusters an earlier run left behind (its process is gone): dropped. */
function dropStaleClusters(version: string): void {
  for (const line of run("pg_lsclusters", ["-h"]).split("\n")) {
    const [ver, name] = line.trim().split(/\s+/);
    const m = name && new RegExp(`^${CLUSTER_PREFIX}(\\d+)$`).exec(name);
    if (ver === version && m && !alive(Number(m[1]))) {
      process.stderr.write(`[stack] dropping cluster ${name} left by an earlier run\n`);
      run("pg_dropcluster", ["--stop", version, name]);
    }
  }
}

export interface Stack {
  dir: string;
  slack: SlackRecorder;
  redis: { port: number; admin: Redis; restart(): Promise<void>; kill(): Promise<void> };
  redisExporterPort: number;
  postgres: { port: number; url: (db: string, user?: string) => string };
  postgresExporterPort: number;
  prometheusUrl: string;
  alertmanagerUrl: string;
  belay: { url: string; proc: Proc; kill9(): Promise<void>; restart(): Promise<void> };
  /** belay's store, for assertions. */
  db: Db;
  /** What a belay CLI command needs to see the same store and targets. */
  cliEnv: Record<string, string>;
  /** The alerts Prometheus has now (pending and firing). */
  promAlerts(): Promise<{ labels: Record<string, string>; state: string; value: string }[]>;
  close(): Promise<void>;
}

export async function startStack(opts: { maxMs: number }): Promise<Stack> {
  const cancelWatchdog = watchdog(opts.maxMs);
  const dir = mkdtempSync(join(tmpdir(), "belay-stack-"));
  const cleanups: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        process.stderr.write(`[stack] teardown: ${(err as Error).message}\n`);
      }
    }
    await stopAll();
    cancelWatchdog();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    return await build(dir, cleanups, close, Date.now() + opts.maxMs);
  } catch (err) {
    await close();
    throw err;
  }
}

async function build(dir: string, cleanups: (() => Promise<void> | void)[], close: () => Promise<void>, deadline: number): Promise<Stack> {
  const limitSec = () => (deadline - Date.now()) / 1000;
  const slack = await startSlackRecorder();
  cleanups.push(() => slack.close());

  // --- Redis of our own -----------------------------------------------------------------
  const redisPort = await freePort();
  let redisProc: Proc;
  const startRedis = async () => {
    redisProc = start("redis", "redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--maxmemory", "64mb"], { log: join(dir, "redis.log"), limitSec: limitSec() });
    await waitFor("redis to answer PING", async () => {
      const c = new Redis({ port: redisPort, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on("error", () => {});
      try {
        await c.connect();
        return (await c.ping()) === "PONG";
      } finally {
        c.disconnect();
      }
    }, 10_000, 100);
  };
  await startRedis();
  const admin = new Redis({ port: redisPort, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 100, 500) });
  admin.on("error", () => {});
  cleanups.push(() => admin.disconnect());

  // --- Postgres cluster of our own --------------------------------------------------------
  const version = PG_VERSION();
  dropStaleClusters(version);
  const pgPort = await freePort();
  const cluster = `${CLUSTER_PREFIX}${process.pid}`;
  run("pg_createcluster", [version, cluster, "-p", String(pgPort), "--start-conf=manual", "--", "--auth-local=trust", "--auth-host=trust"], 120_000);
  cleanups.push(() => void run("pg_dropcluster", ["--stop", version, cluster], 60_000));
  // Loopback only; few slots, so the connection scenario reaches the limit with a few dozen sessions.
  writeFileSync(`/etc/postgresql/${version}/${cluster}/conf.d/belay-stack.conf`, `listen_addresses = '127.0.0.1'\nmax_connections = ${PG_MAX_CONNECTIONS}\nfsync = off\n`);
  run("pg_ctlcluster", ["--skip-systemctl-redirect", version, cluster, "start"], 60_000);
  const pgUrlOf = (db: string, user = "postgres") => `postgres://${user}@127.0.0.1:${pgPort}/${db}`;
  const pgAdmin = openPg(pgUrlOf("postgres"), { max: 1 });
  await waitFor("the stack's Postgres to accept connections", () => pgAdmin.query("SELECT 1").then(() => true), 30_000);
  // As the README says (Postgres 15 has no reserved_connections): the application role has a limit of its own.
  await pgAdmin.query(`CREATE ROLE app LOGIN CONNECTION LIMIT ${APP_CONNECTION_LIMIT}`);
  await pgAdmin.query("CREATE DATABASE app OWNER app");
  // belay's own role: no superuser, only what its playbooks need (see README: reserve belay a slot).
  await pgAdmin.query("CREATE ROLE belay LOGIN");
  await pgAdmin.query("GRANT pg_monitor, pg_signal_backend TO belay");
  await pgAdmin.close();

  // --- Exporters ------------------------------------------------------------------------------
  const redisExporterPort = await freePort();
  start("redis-exporter", "prometheus-redis-exporter", ["-redis.addr", `redis://127.0.0.1:${redisPort}`, "-web.listen-address", `127.0.0.1:${redisExporterPort}`], { log: join(dir, "redis-exporter.log"), limitSec: limitSec() });
  const postgresExporterPort = await freePort();
  start("postgres-exporter", "prometheus-postgres-exporter", [`--web.listen-address=127.0.0.1:${postgresExporterPort}`], {
    log: join(dir, "postgres-exporter.log"),
    limitSec: limitSec(),
    env: { DATA_SOURCE_NAME: `postgresql://postgres@127.0.0.1:${pgPort}/postgres?sslmode=disable` },
  });

  // --- belay's store, its config, its port -----------------------------------------------------
  const belayPort = await freePort();
  const promPort = await freePort();
  const prometheusUrl = `http://127.0.0.1:${promPort}`;
  const store = await freshPgDatabase("stack");
  cleanups.push(() => store.drop());
  const db = openPg(store.url, { max: 2 });
  cleanups.push(() => db.close());
  const config = {
    targets: {
      redis: {
        cache: { url: `redis://127.0.0.1:${redisPort}`, labels: { instance: `127.0.0.1:${redisExporterPort}` } },
        // A second Redis nobody monitors here: "the only configured target" never decides.
        sessions: { url: "redis://127.0.0.1:1", labels: { instance: "sessions-exporter.monitoring:9121" } },
      },
      postgres: { main: { url: pgUrlOf("app", "belay"), labels: { instance: `127.0.0.1:${postgresExporterPort}` } } },
      prometheus: { stack: { url: prometheusUrl } },
    },
    approval: { risks: { medium: { users: [], groups: [], required: 1, requesterMayApprove: true } } },
    slack: { channel: CHANNEL },
  };
  const configPath = join(dir, "belay.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  // --- Alertmanager -------------------------------------------------------------------------------
  const amPort = await freePort();
  writeFileSync(
    join(dir, "alertmanager.yml"),
    JSON.stringify({
      global: { resolve_timeout: "5m" },
      route: { receiver: "belay", group_by: ["alertname", "instance", "job"], group_wait: "1s", group_interval: "1s", repeat_interval: "1h" },
      receivers: [
        {
          name: "belay",
          webhook_configs: [{ url: `http://127.0.0.1:${belayPort}/webhooks/alertmanager`, send_resolved: true, max_alerts: 0, http_config: { authorization: { type: "Bearer", credentials: AM_TOKEN } } }],
        },
      ],
    }),
  );
  start("alertmanager", "prometheus-alertmanager", [`--config.file=${join(dir, "alertmanager.yml")}`, `--storage.path=${join(dir, "am")}`, `--web.listen-address=127.0.0.1:${amPort}`, "--cluster.listen-address="], {
    log: join(dir, "alertmanager.log"),
    limitSec: limitSec(),
  });
  const alertmanagerUrl = `http://127.0.0.1:${amPort}`;

  // --- Prometheus ---------------------------------------------------------------------------------
  writeFileSync(join(dir, "rules.yml"), rulesFile());
  writeFileSync(
    join(dir, "prometheus.yml"),
    JSON.stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s", scrape_timeout: "900ms" },
      rule_files: [join(dir, "rules.yml")],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: [
        { job_name: "redis", static_configs: [{ targets: [`127.0.0.1:${redisExporterPort}`] }] },
        { job_name: "postgres", static_configs: [{ targets: [`127.0.0.1:${postgresExporterPort}`] }] },
      ],
    }),
  );
  start("prometheus", "prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "prom")}`, `--web.listen-address=127.0.0.1:${promPort}`, "--rules.alert.resend-delay=1s"], {
    log: join(dir, "prometheus.log"),
    limitSec: limitSec(),
  });

  // --- belay serve ------------------------------------------------------------------------------------
  const belayEnv = {
    PORT: String(belayPort),
    DATABASE_URL: store.url,
    BELAY_CONFIG: configPath,
    BELAY_DATA_DIR: join(dir, "belay-data"),
    BELAY_LOG_LEVEL: "info",
    ALERTMANAGER_TOKEN: AM_TOKEN,
    SLACK_BOT_TOKEN: "xoxb-stack-belay",
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    SLACK_APP_TOKEN: "",
    PAGERDUTY_TOKEN: "",
    PAGERDUTY_WEBHOOK_SECRET: "",
    BELAY_RESOLVE_SETTLE_SECONDS: String(RESOLVE_SETTLE_SECONDS),
  };
  let belayProc: Proc;
  let belayRuns = 0;
  const startBelay = async () => {
    belayRuns++;
    belayProc = start("belay", process.execPath, ["bin/belay.mjs", "serve"], { env: belayEnv, cwd: ROOT, log: join(dir, `belay-${belayRuns}.log`), limitSec: limitSec() });
    await waitFor("belay to answer /readyz", async () => {
      if (belayProc.child.exitCode !== null) throw new Error(`belay exited ${belayProc.child.exitCode}:\n${belayProc.tail()}`);
      return (await fetch(`http://127.0.0.1:${belayPort}/readyz`)).ok;
    }, 60_000, 200);
  };
  await startBelay();

  const promAlerts = async () => {
    const r = await fetch(`${prometheusUrl}/api/v1/alerts`);
    const j = (await r.json()) as { data: { alerts: { labels: Record<string, string>; state: string; value: string }[] } };
    return j.data.alerts;
  };
  await waitFor("Prometheus to scrape both exporters", async () => {
    const r = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent("up == 1 and on(instance) (redis_up == 1 or pg_up == 1)")}`);
    const j = (await r.json()) as { data: { result: unknown[] } };
    return j.data.result.length === 2;
  }, 60_000, 500);
  await waitFor("Alertmanager to be ready", async () => (await fetch(`${alertmanagerUrl}/-/ready`)).ok, 30_000, 200);

  return {
    dir,
    slack,
    redis: {
      port: redisPort,
      admin,
      kill: () => kill9(redisProc),
      restart: async () => {
        await stop(redisProc);
        await startRedis();
        await admin.ping();
      },
    },
    redisExporterPort,
    postgres: { port: pgPort, url: pgUrlOf },
    postgresExporterPort,
    prometheusUrl,
    alertmanagerUrl,
    belay: {
      url: `http://127.0.0.1:${belayPort}`,
      get proc() {
        return belayProc;
      },
      kill9: () => kill9(belayProc),
      restart: startBelay,
    },
    db,
    cliEnv: { DATABASE_URL: store.url, BELAY_CONFIG: configPath, BELAY_LOG_LEVEL: "warn" },
    promAlerts,
    close,
  };
}
