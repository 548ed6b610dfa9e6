/**
 * `npm run bench:ingest`: an alert storm against `belay serve`, and the same load against a
 * bare node:http server that only parses the JSON and answers 202 (the physical baseline).
 *
 * 10,000 Alertmanager alerts in 10 s across 20 groups (2,000 webhooks of 5 alerts, one every
 * 5 ms, open loop: a slow answer does not slow the sender), sent from a worker thread so the
 * sender never shares an event loop with the server it measures. belay runs on a fresh
 * database on the machine's Postgres, with Slack and PagerDuty as stub servers on loopback.
 * After the storm it waits for the drain and triage to finish, then counts what was stored.
 * Prints JSON.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { Session } from "node:inspector/promises";
import { readFileSync } from "node:fs";
import { summarise, hottest, type CpuProfile } from "./profile-summary.ts";
import { loadConfig } from "../src/config.ts";
import { serve } from "../src/main.ts";
import { openPg } from "../src/store/pg.ts";

const ALERTS = Number(process.env.BENCH_ALERTS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const GROUPS = Number(process.env.BENCH_GROUPS ?? 20);
const PER_REQUEST = Number(process.env.BENCH_ALERTS_PER_REQUEST ?? 5);
const PG_ADMIN = process.env.BELAY_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const TOKEN = "bench-am-token";
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SATURATION_SECONDS = Number(process.env.BENCH_SATURATION_SECONDS ?? 10);
/** Each server is warmed up this long first (belay compiles the modules its drain and triage load lazily), then measured. */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
/** `storm` (the open-loop storm only), `saturation` (the closed-loop run only) or `both` (default). */
const MODE = process.env.BENCH_MODE ?? "both";
/** Set: belay's thread is CPU-profiled during its saturation run, and the profile summarised by area. */
const PROFILE = process.env.BENCH_PROFILE === "1";

interface LoadResult {
  requests: number;
  acceptedRequests: number;
  acceptedAlerts: number;
  statuses: Record<string, number>;
  seconds: number;
  alertsPerSecond: number;
  ackMs: { p50: number; p99: number; max: number };
  peakRssMb: number;
}

/**
 * The load generator runs in a worker thread: its own event loop, as Alertmanager's would
 * be, so what is measured is when the ack arrives, not when a thread shared with the server
 * got round to reading it. Both servers are measured the same way. Open loop: one webhook
 * every `intervalMs`, whatever the answers; each webhook's latency is from its send to the
 * end of its answer.
 */
const PAYLOAD = `
function payload(i) {
  const g = i % groups;
  const alerts = Array.from({ length: perRequest }, (_, k) => {
    const n = i * perRequest + k;
    return {
      status: "firing",
      labels: { alertname: "KubePodCrashLooping", namespace: "storm-" + g, pod: "api-" + run + "-" + n, container: "api", severity: "critical", job: "kube-state-metrics" },
      annotations: { summary: "Pod storm-" + g + "/api-" + n + " is crash looping", description: "Pod is in waiting state (reason: CrashLoopBackOff)." },
      startsAt: new Date().toISOString(),
      endsAt: "0001-01-01T00:00:00Z",
      generatorURL: "http://prometheus-0:9090/graph?g0.expr=kube_pod_container_status_waiting_reason",
      fingerprint: run + n.toString(16).padStart(8, "0"),
    };
  });
  return JSON.stringify({
    receiver: "belay\\\\-webhook",
    status: "firing",
    alerts,
    groupLabels: { alertname: "KubePodCrashLooping", namespace: "storm-" + g },
    commonLabels: { alertname: "KubePodCrashLooping", namespace: "storm-" + g, severity: "critical" },
    commonAnnotations: {},
    externalURL: "http://alertmanager-0:9093",
    version: "4",
    groupKey: '{}/{severity="critical"}:{alertname="KubePodCrashLooping", namespace="storm-' + g + '"}',
    truncatedAlerts: 0,
  });
}

`;

const CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const { Agent, request } = require("node:http");
const { performance } = require("node:perf_hooks");
const { url, token, requests, intervalMs, groups, perRequest, run } = workerData;
${PAYLOAD}
(async () => {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });
  const latencies = [];
  const statuses = {};
  let accepted = 0;
  const started = performance.now();
  let lastAck = started;
  const sends = [];
  for (let i = 0; i < requests; i++) {
    const wait = started + i * intervalMs - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = payload(i);
    sends.push(new Promise((resolve) => {
      const t0 = performance.now();
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: "POST", agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: "Bearer " + token } },
        (res) => {
          res.resume();
          res.on("end", () => {
            const now = performance.now();
            latencies.push(now - t0);
            statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
            if (res.statusCode === 202) {
              accepted++;
              lastAck = Math.max(lastAck, now);
            }
            resolve();
          });
        },
      );
      req.on("error", () => {
        statuses.error = (statuses.error || 0) + 1;
        resolve();
      });
      req.end(body);
    }));
  }
  await Promise.all(sends);
  agent.destroy();
  parentPort.postMessage({ latencies, statuses, accepted, seconds: (lastAck - started) / 1000 });
})();
`;

/**
 * The saturation client: closed loop, `connections` loops each sending its next webhook the
 * moment the previous one is answered, for `seconds`. What it measures is capacity: how many
 * webhooks the server answers per second when it is never idle.
 */
const SATURATION_CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const { Agent, request } = require("node:http");
const { performance } = require("node:perf_hooks");
const { url, token, connections, seconds, groups, perRequest, run } = workerData;
${PAYLOAD}
(async () => {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  const statuses = {};
  let accepted = 0;
  let next = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const send = (body) => new Promise((resolve) => {
    const t0 = performance.now();
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: "POST", agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: "Bearer " + token } },
      (res) => {
        res.resume();
        res.on("end", () => {
          latencies.push(performance.now() - t0);
          statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
          if (res.statusCode === 202) accepted++;
          resolve();
        });
      },
    );
    req.on("error", () => {
      statuses.error = (statuses.error || 0) + 1;
      resolve();
    });
    req.end(body);
  });
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) await send(payload(next++));
  }));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  parentPort.postMessage({ latencies, statuses, accepted, requests: next, seconds: elapsed });
})();
`;

interface SaturationResult {
  /** CPU time of this process's main thread (the server's; the client has a thread of its own) per answered webhook. */
  serverThreadCpuMsPerRequest: number;
  connections: number;
  requests: number;
  acceptedRequests: number;
  acceptedAlerts: number;
  statuses: Record<string, number>;
  seconds: number;
  requestsPerSecond: number;
  ackMs: { p50: number; p99: number; max: number };
}

/**
 * The main thread's CPU time (utime + stime of /proc/self/task/<pid>), in ms: the server's
 * alone, not the load client's. Unlike throughput it barely moves when other processes
 * share the cores, so it is the steadier figure for comparing two builds on a busy machine.
 */
function mainThreadCpuMs(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Closed loop against `url` for SATURATION_SECONDS with CONNECTIONS connections. */
async function saturate(url: string, run: string, seconds = SATURATION_SECONDS): Promise<SaturationResult> {
  const workerData = { url, token: TOKEN, connections: CONNECTIONS, seconds, groups: GROUPS, perRequest: PER_REQUEST, run };
  const client = new Worker(SATURATION_CLIENT, { eval: true, workerData });
  const cpuBefore = mainThreadCpuMs();
  let out: { latencies: number[]; statuses: Record<string, number>; accepted: number; requests: number; seconds: number };
  try {
    out = await new Promise((resolve, reject) => {
      client.once("message", resolve);
      client.once("error", reject);
      client.once("exit", (code) => reject(new Error(`the saturation client exited (${code}) before reporting`)));
    });
  } finally {
    await client.terminate();
  }
  const cpuMs = mainThreadCpuMs() - cpuBefore;
  const latencies = out.latencies.sort((a, b) => a - b);
  return {
    serverThreadCpuMsPerRequest: Math.round((cpuMs / Math.max(1, out.accepted)) * 1000) / 1000,
    connections: CONNECTIONS,
    requests: out.requests,
    acceptedRequests: out.accepted,
    acceptedAlerts: out.accepted * PER_REQUEST,
    statuses: out.statuses,
    seconds: Math.round(out.seconds * 100) / 100,
    requestsPerSecond: Math.round(out.accepted / out.seconds),
    ackMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
  };
}

const ms = (ns: number) => Math.round(ns / 1e4) / 100;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

/** Sends the storm from a client thread, open loop, and measures each answer's latency. */
async function storm(url: string): Promise<LoadResult> {
  const requests = Math.ceil(ALERTS / PER_REQUEST);
  const workerData = { url, token: TOKEN, requests, intervalMs: (SECONDS * 1000) / requests, groups: GROUPS, perRequest: PER_REQUEST, run: randomBytes(3).toString("hex") };
  // RSS is the whole process's (the client thread's included), sampled on this thread.
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const client = new Worker(CLIENT, { eval: true, workerData });
  let out: { latencies: number[]; statuses: Record<string, number>; accepted: number; seconds: number };
  try {
    out = await new Promise((resolve, reject) => {
      client.once("message", resolve);
      client.once("error", reject);
      client.once("exit", (code) => reject(new Error(`the load client exited (${code}) before reporting`)));
    });
  } finally {
    clearInterval(sampler);
    await client.terminate();
  }
  const latencies = out.latencies.sort((a, b) => a - b);
  const acceptedAlerts = out.accepted * PER_REQUEST;
  return {
    requests,
    acceptedRequests: out.accepted,
    acceptedAlerts,
    statuses: out.statuses,
    seconds: Math.round(out.seconds * 100) / 100,
    alertsPerSecond: Math.round(acceptedAlerts / out.seconds),
    ackMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
    peakRssMb: Math.round(peakRss / 1048576),
  };
}

/** The baseline: parse the JSON, answer 202. */
async function bareServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      JSON.parse(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(202, { "content-type": "application/json" });
      res.end('{"accepted":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/alertmanager`, close: () => closeServer(server) };
}

/** Slack's Web API and PagerDuty's REST API as stubs that count calls. */
async function stubs() {
  const slackCalls: Record<string, number> = {};
  const pdCalls: Record<string, number> = {};
  let ts = 0;
  const slack = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const method = (req.url ?? "").replace(/^\/api\//, "");
      slackCalls[method] = (slackCalls[method] ?? 0) + 1;
      res.writeHead(200, { "content-type": "application/json" });
      const body = method === "auth.test" ? { ok: true, user_id: "UBELAY", bot_id: "BBELAY", team_id: "T0001" } : { ok: true, channel: "C0BENCH", ts: `1700000000.${String(++ts).padStart(6, "0")}` };
      res.end(JSON.stringify(body));
    });
  });
  const pd = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const key = `${req.method} ${(req.url ?? "").replace(/\/incidents\/[^/]+/, "/incidents/{id}")}`;
      pdCalls[key] = (pdCalls[key] ?? 0) + 1;
      res.writeHead(201, { "content-type": "application/json" });
      res.end('{"note":{"id":"PNOTE"}}');
    });
  });
  await Promise.all([slack, pd].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))));
  return {
    slackUrl: `http://127.0.0.1:${(slack.address() as AddressInfo).port}/api/`,
    pdUrl: `http://127.0.0.1:${(pd.address() as AddressInfo).port}`,
    slackCalls,
    pdCalls,
    close: () => Promise.all([closeServer(slack), closeServer(pd)]),
  };
}

function closeServer(s: Server): Promise<void> {
  const closed = new Promise<void>((r) => s.close(() => r()));
  s.closeAllConnections();
  return closed;
}

async function main(): Promise<void> {
  const runStorm = MODE !== "saturation";
  const runSaturation = MODE !== "storm";
  // Baseline first, so belay's background work does not share the CPU with it.
  const bare = await bareServer();
  const baseline = runStorm ? await storm(bare.url) : null;
  if (runSaturation) await saturate(bare.url, "bare-warmup", WARMUP_SECONDS);
  const bareSaturation = runSaturation ? await saturate(bare.url, "bare") : null;
  await bare.close();

  const db = `belay_bench_ingest_${randomBytes(4).toString("hex")}`;
  const admin = openPg(PG_ADMIN, { max: 1 });
  await admin.query(`CREATE DATABASE ${db}`);
  const dbUrl = new URL(PG_ADMIN);
  dbUrl.pathname = `/${db}`;
  const stub = await stubs();
  const configPath = join(tmpdir(), `belay-bench-${db}.yaml`);
  writeFileSync(configPath, "slack:\n  channel: C0BENCH\n");
  const config = loadConfig({
    DATABASE_URL: dbUrl.toString(),
    BELAY_CONFIG: configPath,
    BELAY_LOG_LEVEL: "silent",
    ALERTMANAGER_TOKEN: TOKEN,
    SLACK_BOT_TOKEN: "xoxb-bench",
    SLACK_SIGNING_SECRET: "bench-signing-secret",
    SLACK_API_URL: stub.slackUrl,
    PAGERDUTY_TOKEN: "bench-pd-token",
    PAGERDUTY_FROM: "belay@example.com",
    PAGERDUTY_API_URL: stub.pdUrl,
    PAGERDUTY_WEBHOOK_SECRET: "bench-pd-secret",
  });
  const belay = await serve(config, { port: 0, host: "127.0.0.1" });
  const result: Record<string, unknown> = {};
  const q = async (sql: string) => Number((await belay.core.db.query<{ n: number }>(sql)).rows[0]!.n);
  const inboxAlerts = () => q(`SELECT coalesce(sum(jsonb_array_length(alerts)), 0)::int AS n FROM ingest_deliveries`);
  try {
    if (runStorm && baseline) Object.assign(result, await stormBelay(belay, stub, baseline, q, inboxAlerts));
    if (runSaturation && bareSaturation) {
      await saturate(`${belay.url}/webhooks/alertmanager`, randomBytes(3).toString("hex"), WARMUP_SECONDS);
      await settle(q, 30_000);
      const before = await inboxAlerts();
      const pgBackends = await backendPids(q, db);
      const pgCpuBefore = cpuSecondsOf(pgBackends);
      const cpuBefore = process.cpuUsage();
      const eluBefore = performance.eventLoopUtilization();
      const session = PROFILE ? new Session() : null;
      if (session) {
        session.connect();
        await session.post("Profiler.enable");
        await session.post("Profiler.setSamplingInterval", { interval: 200 });
        await session.post("Profiler.start");
      }
      const sat = await saturate(`${belay.url}/webhooks/alertmanager`, randomBytes(3).toString("hex"));
      let profile: CpuProfile | null = null;
      if (session) {
        profile = (await session.post("Profiler.stop")).profile as unknown as CpuProfile;
        session.disconnect();
        const file = join(tmpdir(), `belay-ingest-saturation-${process.pid}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        console.error(`belay's CPU profile during the saturation run: ${file}`);
      }
      const elu = performance.eventLoopUtilization(eluBefore);
      const cpu = process.cpuUsage(cpuBefore);
      const pgCpu = cpuSecondsOf(pgBackends) - pgCpuBefore;
      // Counted at once: every 202 was sent after its row committed, so nothing acknowledged may be missing.
      const stored = (await inboxAlerts()) - before;
      const storedPerSecond = Math.round(stored / sat.seconds);
      const bareAlertsPerSecond = Math.round(bareSaturation.acceptedAlerts / bareSaturation.seconds);
      result.saturation = {
        load: { connections: CONNECTIONS, seconds: SATURATION_SECONDS, warmupSeconds: WARMUP_SECONDS, alertsPerRequest: PER_REQUEST, closedLoop: true },
        belay: { ...sat, store: "pg", alertsStored: stored, alertsStoredPerSecond: storedPerSecond, acknowledgedButNotStored: Math.max(0, sat.acceptedAlerts - stored) },
        baseline: { ...bareSaturation, alertsPerSecond: bareAlertsPerSecond },
        ratio: {
          alertsPerSecond: Math.round((storedPerSecond / bareAlertsPerSecond) * 1000) / 1000,
          /** The bare server's CPU per webhook over belay's: the throughput ratio if both had a core to themselves. */
          cpuPerRequest: Math.round((bareSaturation.serverThreadCpuMsPerRequest / Math.max(0.001, sat.serverThreadCpuMsPerRequest)) * 1000) / 1000,
          ackP50: Math.round((sat.ackMs.p50 / Math.max(0.01, bareSaturation.ackMs.p50)) * 100) / 100,
          ackP99: Math.round((sat.ackMs.p99 / Math.max(0.01, bareSaturation.ackMs.p99)) * 100) / 100,
        },
        cpu: {
          belayThreadEventLoopUtilisation: Math.round(elu.utilization * 1000) / 1000,
          belayThreadBusyMsPerRequest: Math.round(((elu.active / Math.max(1, sat.acceptedRequests)) * 1000)) / 1000,
          benchProcessCpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
          postgresBackendsCpuSeconds: Math.round(pgCpu * 100) / 100,
          note: "the bench process's CPU includes the load client's thread; Postgres's is its backends serving belay's database",
        },
        ...(profile ? { profileByArea: summarise(profile), hottestFunctions: hottest(profile, 30) } : {}),
        aims: { everyAckStored: stored >= sat.acceptedAlerts, ratioAtLeastQuarter: storedPerSecond >= bareAlertsPerSecond / 4, ratioAtLeastHalf: storedPerSecond >= bareAlertsPerSecond / 2 },
      };
    }
  } finally {
    await belay.close();
    await stub.close();
    rmSync(configPath, { force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.close();
  }
  console.log(JSON.stringify(result, null, 2));
}

/** Waits (up to `limitMs`) until the drain and triage of everything stored are done; returns the seconds waited. */
async function settle(q: (sql: string) => Promise<number>, limitMs: number): Promise<number> {
  const start = performance.now();
  let pending = 1;
  while (pending > 0 && performance.now() - start < limitMs) {
    await new Promise((r) => setTimeout(r, 100));
    pending = await q(
      `SELECT (SELECT count(*) FROM ingest_deliveries WHERE processed_at IS NULL) + (SELECT count(*) FROM incident_jobs WHERE status IN ('pending', 'running')) AS n`,
    );
  }
  return (performance.now() - start) / 1000;
}

/** The pids of the Postgres backends connected to belay's database (its pools). */
async function backendPids(q: (sql: string) => Promise<number>, db: string): Promise<number[]> {
  void q;
  const admin = openPg(PG_ADMIN, { max: 1 });
  try {
    const r = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [db]);
    return r.rows.map((row) => Number(row.pid));
  } finally {
    await admin.close();
  }
}

/** utime + stime of these processes, in seconds (Postgres runs on this machine). */
function cpuSecondsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* the backend exited */
    }
  }
  return ticks / 100;
}

/** The open-loop storm against belay, then the wait for its drain and triage, then the counts. */
async function stormBelay(
  belay: Awaited<ReturnType<typeof serve>>,
  stub: Awaited<ReturnType<typeof stubs>>,
  baseline: LoadResult,
  q: (sql: string) => Promise<number>,
  inboxAlerts: () => Promise<number>,
): Promise<Record<string, unknown>> {
  const slackAtStart = Object.values(stub.slackCalls).reduce((a, b) => a + b, 0);
  // How late belay's event loop ran a 5 ms timer during the storm (values include the 5 ms).
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const load = await storm(`${belay.url}/webhooks/alertmanager`);
  loopDelay.disable();

  // Wait for the drain and triage of everything acknowledged.
  const settleSeconds = await settle(q, 120_000);
  await new Promise((r) => setTimeout(r, 1000)); // let the Slack publisher flush its paced queue
  const storedInInbox = await inboxAlerts();
  const storedAlerts = await q(`SELECT count(*)::int AS n FROM incident_alerts`);
  const incidents = await q(`SELECT count(*)::int AS n FROM incidents`);
  const slackCalls = Object.values(stub.slackCalls).reduce((a, b) => a + b, 0) - slackAtStart;
  const pdCalls = Object.values(stub.pdCalls).reduce((a, b) => a + b, 0);
  return {
    load: { alerts: ALERTS, seconds: SECONDS, groups: GROUPS, alertsPerRequest: PER_REQUEST },
    belay: { ...load, store: "pg", eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) } },
    baseline,
    ratio: {
      throughput: Math.round((load.alertsPerSecond / baseline.alertsPerSecond) * 1000) / 1000,
      ackP50: Math.round((load.ackMs.p50 / baseline.ackMs.p50) * 100) / 100,
      ackP99: Math.round((load.ackMs.p99 / baseline.ackMs.p99) * 100) / 100,
    },
    incidentsCreated: incidents,
    alertsStored: { inbox: storedInInbox, incidentAlerts: storedAlerts },
    alertsLost: load.acceptedAlerts - Math.min(storedInInbox, storedAlerts),
    drainAndTriageSeconds: Math.round(settleSeconds * 100) / 100,
    slackCalls: { total: slackCalls, byMethod: stub.slackCalls },
    pagerdutyCalls: { total: pdCalls, byEndpoint: stub.pdCalls, note: "Alertmanager incidents have no PagerDuty incident to note" },
    peakRssMb: Math.max(load.peakRssMb, Math.round(process.memoryUsage().rss / 1048576)),
    aims: {
      allStored: load.acceptedAlerts === ALERTS && storedAlerts === ALERTS,
      twentyIncidents: incidents === GROUPS,
      ackP99Under50ms: load.ackMs.p99 < 50,
      throughputAtLeastHalf: load.alertsPerSecond >= baseline.alertsPerSecond / 2,
    },
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
