/**
 * `npm run bench:memory`: the resident memory of `belay serve`, started as a child process,
 * with the embedded store (PGlite) and on Postgres (a database of its own on the machine's
 * Postgres). For each: RSS and the high-water mark (VmRSS, VmHWM of /proc/<pid>/status) idle
 * after the first start (a fresh data directory: initdb included), after an ingest storm
 * (BENCH_MEMORY_ALERTS Alertmanager alerts, 5 a webhook, 16 at a time) and, for the
 * embedded store, idle after a restart on the same directory. Prints a table and JSON.
 *
 * BENCH_BASE=/path/to/another/checkout measures that checkout's code the same way, in the
 * same run, as a baseline (e.g. `git worktree add /tmp/perf-base <commit>` with node_modules
 * hard-linked in). BENCH_STORES=embedded,pg picks the stores.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openPg } from "../src/store/pg.ts";

const ALERTS = Number(process.env.BENCH_MEMORY_ALERTS ?? 5_000);
const IDLE_MS = Number(process.env.BENCH_MEMORY_IDLE_MS ?? 3_000);
const STORES = (process.env.BENCH_STORES ?? "embedded,pg").split(",") as ("embedded" | "pg")[];
const PG_ADMIN = process.env.BELAY_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const TOKEN = "bench-memory-token";
const PER_REQUEST = 5;

interface Sample {
  rssMb: number;
  hwmMb: number;
}
interface Row {
  code: string;
  store: string;
  idleAfterFirstStart: Sample;
  afterStorm: Sample & { acceptedAlerts: number };
  idleAfterRestart?: Sample;
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMb: Math.round(kb("VmRSS") / 1024), hwmMb: Math.round(kb("VmHWM") / 1024) };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `belay serve` from `checkout` and waits until /readyz answers 200. */
async function start(checkout: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(checkout, "bin/belay.mjs"), "serve"], {
    cwd: checkout,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: String(port), ALERTMANAGER_TOKEN: TOKEN, BELAY_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`belay serve exited (${child.exitCode}): ${stderr}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { child, url };
    if (Date.now() > until) throw new Error(`belay serve was not ready within 60 s: ${stderr}`);
    await sleep(200);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(15_000).then(() => child.kill("SIGKILL"))]);
}

/** ALERTS alerts to the Alertmanager webhook, 16 webhooks in flight; returns the alerts answered 202. */
async function storm(url: string): Promise<number> {
  const run = randomBytes(3).toString("hex");
  const webhooks = Math.ceil(ALERTS / PER_REQUEST);
  let next = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < webhooks) {
        const i = next++;
        const g = i % 20;
        const body = JSON.stringify({
          version: "4", status: "firing", receiver: "belay", groupKey: `{}:{alertname="KubePodCrashLooping", namespace="storm-${g}"}`,
          commonLabels: { alertname: "KubePodCrashLooping", namespace: `storm-${g}` }, externalURL: "http://alertmanager:9093",
          alerts: Array.from({ length: PER_REQUEST }, (_, k) => ({
            status: "firing",
            labels: { alertname: "KubePodCrashLooping", namespace: `storm-${g}`, pod: `api-${run}-${i * PER_REQUEST + k}`, severity: "critical" },
            annotations: { summary: `Pod storm-${g}/api-${i * PER_REQUEST + k} is crash looping` },
            startsAt: new Date().toISOString(), endsAt: "0001-01-01T00:00:00Z", fingerprint: `${run}${(i * PER_REQUEST + k).toString(16).padStart(8, "0")}`,
          })),
        });
        const r = await fetch(`${url}/webhooks/alertmanager`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }, body });
        await r.arrayBuffer();
        if (r.status === 202) accepted += PER_REQUEST;
      }
    }),
  );
  return accepted;
}

async function measure(code: string, checkout: string, store: "embedded" | "pg"): Promise<Row> {
  const dataDir = mkdtempSync(join(tmpdir(), "belay-bench-memory-"));
  const db = `belay_bench_memory_${randomBytes(4).toString("hex")}`;
  const admin = store === "pg" ? openPg(PG_ADMIN, { max: 1 }) : null;
  const env: Record<string, string> = { BELAY_DATA_DIR: join(dataDir, "data") };
  if (admin) {
    await admin.query(`CREATE DATABASE ${db}`);
    const u = new URL(PG_ADMIN);
    u.pathname = `/${db}`;
    env.DATABASE_URL = u.toString();
  }
  try {
    let { child, url } = await start(checkout, env);
    let row: Row;
    try {
      await sleep(IDLE_MS);
      const idleAfterFirstStart = sample(child.pid!);
      const acceptedAlerts = await storm(url);
      await sleep(IDLE_MS * 2); // the drain and triage of the storm
      row = { code, store, idleAfterFirstStart, afterStorm: { ...sample(child.pid!), acceptedAlerts } };
    } finally {
      await stop(child);
    }
    if (store === "embedded") {
      ({ child } = await start(checkout, env));
      try {
        await sleep(IDLE_MS);
        row.idleAfterRestart = sample(child.pid!);
      } finally {
        await stop(child);
      }
    }
    return row;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.close();
    }
  }
}

async function main(): Promise<void> {
  const checkouts: [string, string][] = [["this checkout", resolve(import.meta.dirname, "..")]];
  if (process.env.BENCH_BASE) checkouts.unshift([`baseline (${process.env.BENCH_BASE})`, resolve(process.env.BENCH_BASE)]);
  const rows: Row[] = [];
  for (const store of STORES) for (const [code, dir] of checkouts) rows.push(await measure(code, dir, store));
  const fmt = (s?: Sample) => (s ? `${s.rssMb} MB (peak ${s.hwmMb})` : "-");
  console.table(
    rows.map((r) => ({
      code: r.code,
      store: r.store,
      "idle after first start": fmt(r.idleAfterFirstStart),
      [`after ${ALERTS} alerts`]: fmt(r.afterStorm),
      "idle after restart": fmt(r.idleAfterRestart),
    })),
  );
  console.log(JSON.stringify({ alerts: ALERTS, idleMs: IDLE_MS, rows }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
