/**
 * `npm run bench:slack`: how fast the Slack app acks, through the real Bolt app on
 * belay's real HTTP server on loopback, with signed requests.
 *
 * The Web API is a local HTTP server standing in for slack.com (through SLACK_API_URL's
 * setting), answering at once. The store is PGlite (in memory). Measured: the time from
 * sending a request to Slack's ack arriving, for
 *   - slash commands (help, list, match, status, history), 50 in flight at once;
 *   - Approve clicks on 50 different runs by 50 people, all at once (each click's decision
 *     and message updates run after its ack, competing with the next acks);
 *   - 50 simultaneous clicks of one button by one person (the double-click path).
 * Prints one JSON object.
 */
import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { approvalPolicySchema } from "../src/approve/policy.ts";
import { catalog } from "../src/catalog/index.ts";
import { silentLogger } from "../src/execute/deps.ts";
import { Engine } from "../src/execute/engine.ts";
import { newId } from "../src/ids.ts";
import { createMatcher } from "../src/match/index.ts";
import { checkPlaybooks } from "../src/plan/registry.ts";
import { playbook, z } from "../src/sdk/index.ts";
import { createHttpServer, listen } from "../src/server/http.ts";
import { Metrics } from "../src/server/metrics.ts";
import { SlackSurface } from "../src/slack/surface.ts";
import { migrate } from "../src/store/migrate.ts";
import { openPg } from "../src/store/pg.ts";
import { openPglite } from "../src/store/pglite.ts";
import type { Db } from "../src/store/driver.ts";
import { getRun, getSteps, listRuns } from "../src/store/runs.ts";
import type { Targets } from "../src/targets/types.ts";

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const COMMAND_ROUNDS = Number(process.env.BENCH_COMMAND_ROUNDS ?? 10);
const SECRET = "bench-signing-secret";
/** BENCH_STORE=pg: a fresh database on the machine's Postgres instead of PGlite. */
const STORE = process.env.BENCH_STORE === "pg" ? "pg" : "pglite";
const PG_ADMIN = process.env.BELAY_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

async function openStore(): Promise<{ db: Db; drop: () => Promise<void> }> {
  if (STORE === "pglite") {
    const db = await openPglite(null);
    return { db, drop: () => db.close() };
  }
  const name = `belay_bench_slack_${process.pid}`;
  const admin = openPg(PG_ADMIN, { max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.close();
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  const db = openPg(u.toString());
  return {
    db,
    drop: async () => {
      await db.close();
      const a = openPg(PG_ADMIN, { max: 1 });
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.close();
    },
  };
}

const noTargets = {} as Targets;
const bench = playbook({ id: "bench-fix", title: "Bench fix", summary: "One read, one medium-risk change.", failureModes: ["redis-maxmemory"], params: z.object({ n: z.number().int().default(1) }) })
  .diagnose("read", () => ({ ok: true }))
  .act("change", { risk: "medium", permissions: ["bench:write"], locks: { none: "a benchmark step: it changes nothing another run could change" }, preview: () => "change one thing", run: () => ({ done: true }), verify: () => true, irreversible: "bench" });

/** slack.com stand-in: every method answers ok at once. */
async function fakeSlack(): Promise<{ server: Server; url: string; calls: Map<string, number> }> {
  const calls = new Map<string, number>();
  let seq = 0;
  const server = createServer((req, res) => {
    const method = (req.url ?? "").replace(/^\/api\//, "");
    calls.set(method, (calls.get(method) ?? 0) + 1);
    req.resume();
    req.on("end", () => {
      const body = method === "auth.test" ? { ok: true, user_id: "UBELAY", bot_id: "BBELAY" } : method === "chat.postMessage" ? { ok: true, ts: `1700000000.${String(++seq).padStart(6, "0")}` } : { ok: true };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  const addr = await new Promise<AddressInfo>((r) => server.listen(0, "127.0.0.1", () => r(server.address() as AddressInfo)));
  return { server, url: `http://127.0.0.1:${addr.port}/api/`, calls };
}

function signed(body: string): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": String(ts), "x-slack-signature": `v0=${createHmac("sha256", SECRET).update(`v0:${ts}:${body}`).digest("hex")}` };
}

/**
 * The load generator runs in a worker thread: its own event loop, as Slack's would be, so
 * what is measured is when belay's ack arrives, not when this thread got round to reading it.
 */
const CLIENT = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", async ({ url, requests }) => {
  const out = await Promise.all(requests.map(async ({ body, headers }) => {
    const t = performance.now();
    const res = await fetch(url, { method: "POST", headers, body });
    await res.arrayBuffer();
    return { ms: performance.now() - t, status: res.status };
  }));
  parentPort.postMessage(out);
});`;
const client = new Worker(CLIENT, { eval: true });
client.unref();

/** Sends all bodies at once (signed), from the client thread; the ack latency of each. */
function burst(url: string, bodies: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    client.once("message", (out: { ms: number; status: number }[]) => {
      const bad = out.find((o) => o.status !== 200);
      if (bad) reject(new Error(`ack ${bad.status}`));
      else resolve(out.map((o) => o.ms));
    });
    client.postMessage({ url, requests: bodies.map((body) => ({ body, headers: signed(body) })) });
  });
}

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => Number(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!.toFixed(2));
  return { n: s.length, p50: q(50), p90: q(90), p99: q(99), max: Number(s.at(-1)!.toFixed(2)) };
}

const command = (text: string, user: string) =>
  new URLSearchParams({ team_id: "T1", channel_id: "C1", user_id: user, command: "/runbook", text, response_url: "http://127.0.0.1:9/none", trigger_id: "t1" }).toString();
const click = (value: string, user: string) =>
  new URLSearchParams({
    payload: JSON.stringify({
      type: "block_actions",
      user: { id: user, team_id: "T1" },
      team: { id: "T1" },
      channel: { id: "C1" },
      container: { type: "message", channel_id: "C1", message_ts: "1700000000.000001" },
      message: { ts: "1700000000.000001" },
      actions: [{ type: "button", action_id: "belay.approve.1", value, action_ts: "1" }],
    }),
  }).toString();

async function main() {
  const slack = await fakeSlack();
  const { db, drop } = await openStore();
  await migrate(db);
  const playbooks = checkPlaybooks([bench], "bench");
  let surface: SlackSurface | null = null;
  const engine = new Engine({
    db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets: noTargets,
    playbooks,
    policy: approvalPolicySchema.parse({}),
    owner: newId("bench"),
    pollMs: 100,
    concurrency: 8,
    onEvents: (e) => surface?.onEvents(e),
  });
  surface = new SlackSurface({
    engine,
    matcher: createMatcher([bench], catalog),
    logger: silentLogger,
    // Slack's per-channel pace as in production; the stub has no tier limit, so the shared bucket is opened up.
    publisher: { updatesPerMinute: 6_000, updateBurst: 100 },
    settings: { botToken: "xoxb-bench", signingSecret: SECRET, appToken: null, apiUrl: slack.url, command: "/runbook", channel: "C1", usergroups: {}, usergroupCacheMs: 300_000, buttonTtlMs: 86_400_000 },

  });
  await surface.start();
  const server = createHttpServer({ routes: surface.routes, metrics: new Metrics(), logger: silentLogger, ready: async () => ({ ok: true, detail: "" }) });
  const addr = await listen(server, 0, "127.0.0.1");
  const url = `http://127.0.0.1:${addr.port}/slack/events`;
  engine.start();

  // Runs parked at their approval, each shown in Slack (as `/runbook run` would).
  const runIds: string[] = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    const { runId } = await engine.propose({ playbookId: "bench-fix", params: { n: i }, requestedBy: "UREQ", surface: "slack" });
    await surface.ctx.showRun(runId, { channel: `C${i}`, threadTs: null }, {});
    runIds.push(runId);
  }
  const parkedBy = Date.now() + 60_000;
  while ((await listRuns(db, { limit: CONCURRENCY, statuses: ["awaiting_approval"] })).length < CONCURRENCY) {
    if (Date.now() > parkedBy) throw new Error("runs did not reach their approval in 60 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  const tokens = await Promise.all(
    runIds.map(async (id) => {
      const run = (await getRun(db, id))!;
      const step = (await getSteps(db, id))[1]!;
      return surface.ctx.tokens.issue({ action: "approve", runId: id, stepIdx: 1, planHash: run.planHash, extra: `attempt ${step.attempts}` });
    }),
  );

  // Warm-up: JIT, connection pools.
  for (let i = 0; i < 5; i++) await burst(url, Array.from({ length: 10 }, () => command("help", "UWARM")));

  const sequential: number[] = [];
  for (let i = 0; i < 50; i++) sequential.push(...(await burst(url, [command("help", "USEQ")])));
  const texts = ["help", "list", "show bench-fix", "match RedisOutOfConfiguredMaxmemory instance=cache-1", "status", "history 5"];
  const commandMs: number[] = [];
  for (let r = 0; r < COMMAND_ROUNDS; r++) {
    commandMs.push(...(await burst(url, Array.from({ length: CONCURRENCY }, (_, i) => command(texts[i % texts.length]!, `U${i}`)))));
  }

  const clickMs = await burst(url, tokens.map((t, i) => click(t, `UAPPROVER${i}`)));
  const doubleMs = await burst(url, Array.from({ length: CONCURRENCY }, () => click(tokens[0]!, "UAPPROVER0")));

  const doneBy = Date.now() + 60_000;
  while ((await listRuns(db, { limit: CONCURRENCY, statuses: ["succeeded"] })).length < CONCURRENCY && Date.now() < doneBy) await new Promise((r) => setTimeout(r, 50));
  const succeeded = (await listRuns(db, { limit: CONCURRENCY * 2, statuses: ["succeeded"] })).length;

  const out = {
    bench: "slack ack latency (ms), real Bolt app over loopback HTTP, Web API stubbed",
    store: STORE,
    node: process.version,
    concurrency: CONCURRENCY,
    oneAtATime: stats(sequential),
    slashCommands: stats(commandMs),
    approveClicks: stats(clickMs),
    doubleClicks: stats(doubleMs),
    afterwards: { runsSucceeded: succeeded, webApiCalls: Object.fromEntries(slack.calls) },
  };
  console.log(JSON.stringify(out, null, 2));
  await engine.stop();
  await surface.stop();
  server.close();
  server.closeAllConnections();
  slack.server.close();
  slack.server.closeAllConnections();
  await client.terminate();
  await drop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
