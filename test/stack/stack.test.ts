import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect, type Socket } from "node:net";
import pg from "pg";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunOutcome } from "../../src/execute/outcome.ts";
import { incidentRunOutcomes } from "../../src/incidents/run-outcomes.ts";
import { createPrometheusTarget } from "../../src/targets/prometheus.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { drillReportMarkdown } from "../../src/drills/report.ts";
import { runDrill } from "../../src/drills/runner.ts";
import { RehearsalWorld } from "../../src/drills/simulation.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { createTargets } from "../../src/targets/registry.ts";
import redisDrill from "../../playbooks/drills/redis-maxmemory.ts";
import { freePort, sleep, waitFor } from "./procs.ts";
import { buttons, signedClick, signedCommand } from "./slack-recorder.ts";
import { APP_CONNECTION_LIMIT, CHANNEL, RESOLVE_SETTLE_SECONDS, SIGNING_SECRET, stackUnavailable, startStack, type Stack } from "./stack.ts";

/*
 * belay on a real monitoring stack: Debian's Prometheus, Alertmanager and exporters, the
 * published rules, faults injected into a Redis and a Postgres of the suite's own, belay
 * serve as a child process, Slack's Web API recorded. Assertions are on outcomes and on
 * what was said in Slack, never on times; the phase times are printed.
 *
 * Every scenario runs: none is parked. BELAY_STACK_DUMP=DIR writes the thread chart there to look at.
 */

const execFileP = promisify(execFile);
const why = stackUnavailable();
// CI must run the stack: a missing binary there is a failure, not a skip.
const skipAll = why !== null && process.env.CI !== "true";

const SCENARIO_MS = 150_000;
let stack: Stack;

/** One scenario: its phase times are printed whether it passes or fails. */
function scenario(id: string, title: string, fn: (p: Phases) => Promise<void>) {
  it(
    `${id}: ${title}`,
    async () => {
      await quiet();
      const p = new Phases(id);
      try {
        await fn(p);
      } finally {
        p.print();
      }
    },
    SCENARIO_MS,
  );
}

/** Phase times of one scenario, printed at the end (seconds since the fault). */
class Phases {
  private t0 = Date.now();
  private marks: [string, number][] = [];
  constructor(private readonly name: string) {}
  fault() {
    this.t0 = Date.now();
    this.marks = [["fault", 0]];
  }
  mark(phase: string) {
    this.marks.push([phase, Date.now() - this.t0]);
  }
  /** A phase that happened at a known time (e.g. Alertmanager's startsAt). */
  markAt(phase: string, at: Date) {
    this.marks.push([phase, at.getTime() - this.t0]);
    this.marks.sort((a, b) => a[1] - b[1]);
  }
  print() {
    console.log(`[stack] ${this.name}: ${this.marks.map(([p, ms]) => `${p} +${(ms / 1000).toFixed(1)}s`).join(" | ")}`);
  }
}

interface IncidentRow {
  id: string;
  title: string;
  status: string;
  created_at: Date;
  alertnames: string[];
}

async function incidentsSince(since: Date): Promise<IncidentRow[]> {
  const r = await stack.db.query<IncidentRow>(
    `SELECT i.id, i.title, i.status, i.created_at,
            coalesce(array_agg(DISTINCT a.alert->'labels'->>'alertname') FILTER (WHERE a.fingerprint IS NOT NULL), '{}') AS alertnames
       FROM incidents i LEFT JOIN incident_alerts a ON a.incident_id = i.id
      WHERE i.created_at >= $1 OR i.updated_at >= $1
      GROUP BY i.id ORDER BY i.created_at`,
    [since],
  );
  return r.rows;
}

async function incidentWith(alertname: string, since: Date): Promise<IncidentRow | undefined> {
  return (await incidentsSince(since)).find((i) => i.alertnames.includes(alertname));
}

interface RunRow {
  id: string;
  playbook_id: string;
  requested_by: string;
  status: string;
  status_reason: string | null;
  params: Record<string, unknown>;
}

async function runsOf(incidentId: string): Promise<RunRow[]> {
  return (await stack.db.query<RunRow>(`SELECT id, playbook_id, requested_by, status, status_reason, params FROM runs WHERE incident_id = $1 ORDER BY created_at`, [incidentId])).rows;
}

async function stepsOf(runId: string): Promise<{ name: string; kind: string; status: string; output: any; preview: string | null }[]> {
  return (await stack.db.query<any>(`SELECT name, kind, status, output, preview FROM steps WHERE run_id = $1 ORDER BY idx`, [runId])).rows;
}

/** What belay did with an incident, for a failure message: its runs, their steps and outcomes. */
async function story(incidentId: string): Promise<string> {
  const lines: string[] = [];
  for (const r of await runsOf(incidentId)) {
    lines.push(`run ${r.id} ${r.playbook_id} by ${r.requested_by} ${r.status}${r.status_reason ? ` (${r.status_reason})` : ""} params ${JSON.stringify(r.params)}`);
    for (const s of await stepsOf(r.id)) lines.push(`  ${s.name} [${s.kind}] ${s.status}${s.preview ? ` preview: ${s.preview}` : ""}`);
  }
  return lines.join("\n") || "no runs";
}

/** The incident's proposal of `playbookId` waiting for approval and shown in Slack with Approve; fails with what belay did instead. */
async function proposal(incidentId: string, playbookId: string): Promise<RunRow> {
  try {
    const run = await waitFor(
      `a ${playbookId} proposal awaiting approval`,
      async () => (await runsOf(incidentId)).find((r) => r.playbook_id === playbookId && r.status === "awaiting_approval"),
      30_000,
    );
    await waitFor("the proposal in Slack with an Approve button", () => approvable(run.id), 20_000);
    return run;
  } catch (err) {
    throw new Error(`${(err as Error).message}\nincident ${incidentId}:\n${await story(incidentId)}`);
  }
}

const IN_PROGRESS = new Set(["pending", "running", "waiting", "awaiting_approval", "awaiting_decision"]);

/** belay's own run of `playbookId` for the incident, once finished, with its outcome; fails with what belay did instead. */
async function automaticOutcome(incidentId: string, playbookId: string): Promise<{ run: RunRow; outcome: RunOutcome }> {
  const run = await waitFor(
    `belay's ${playbookId} run to finish`,
    async () => (await runsOf(incidentId)).find((r) => r.playbook_id === playbookId && r.requested_by === "belay" && !IN_PROGRESS.has(r.status)),
    30_000,
  ).catch(async (err) => {
    throw new Error(`${(err as Error).message}\nincident ${incidentId}:\n${await story(incidentId)}`);
  });
  const outcome = (await incidentRunOutcomes(stack.db, incidentId)).find((o) => o.runId === run.id)!.outcome;
  // What the person reads before doing anything: the run's outcome, in the incident's thread.
  const thread = await threadOf(incidentId);
  await waitFor(
    `the thread to say what belay's ${playbookId} run found`,
    () => [...stack.slack.messages().values()].some((m) => m.thread_ts === thread && JSON.stringify([m.text, m.blocks]).includes(run.id) && JSON.stringify([m.text, m.blocks]).includes(outcome.label)),
    20_000,
  );
  return { run, outcome };
}

/** The ts of the incident's thread root in Slack, once posted. */
async function threadOf(incidentId: string): Promise<string> {
  return waitFor(
    "the incident's thread root in Slack",
    async () => (await stack.db.query<{ slack_ts: string | null }>(`SELECT slack_ts FROM incidents WHERE id = $1`, [incidentId])).rows[0]?.slack_ts,
    20_000,
  );
}

/** A person's `/runbook ...` in the incidents channel, signed as Slack signs it; the ack's body. */
async function slashCommand(text: string, user = "UALICE"): Promise<string> {
  const { body, headers } = signedCommand({ secret: SIGNING_SECRET, user, channel: CHANNEL, text, responseUrl: `${stack.slack.apiUrl}response_url` });
  const res = await fetch(`${stack.belay.url}/slack/events`, { method: "POST", headers, body });
  expect(res.status).toBe(200);
  return res.text();
}

/**
 * What the on-call person does after belay's run said "nothing needed" under the playbook's
 * default threshold: `/runbook run <playbook> <params> incident=<id>`. The run is linked to the
 * incident and waits in its thread with Approve; fails with what belay did and said instead.
 */
async function personsProposal(incidentId: string, playbookId: string, params: string): Promise<RunRow> {
  const ack = await slashCommand(`run ${playbookId} ${params} incident=${incidentId}`);
  expect(ack).toContain(`Proposing \`${playbookId}\` for incident \`${incidentId}\``);
  try {
    const run = await waitFor(
      `the person's ${playbookId} run awaiting approval`,
      async () => (await runsOf(incidentId)).find((r) => r.playbook_id === playbookId && r.requested_by !== "belay" && r.status === "awaiting_approval"),
      30_000,
    );
    await waitFor("the person's run in Slack with an Approve button", () => approvable(run.id), 20_000);
    // The run's own message, a reply in the incident's thread (the root may name the run too).
    const thread = await threadOf(incidentId);
    await waitFor(
      "the person's run as a reply in the incident's thread, with Approve",
      () => [...stack.slack.messages().values()].some((m) => m.thread_ts === thread && JSON.stringify(m.blocks ?? []).includes(run.id) && buttons(m.blocks).some((b) => b.actionId.startsWith("belay.approve."))),
      20_000,
    );
    return run;
  } catch (err) {
    const answers = stack.slack.of("response_url").map((c) => JSON.stringify(c.body));
    const msgs = [...stack.slack.messages().values()].map((m) => `${m.ts}${m.thread_ts ? ` (in ${m.thread_ts})` : ""}: ${String(m.text ?? "").slice(0, 100)}`);
    const log = stack.belay.proc.tail(200).split("\n").filter((l) => /"level":(4|5)0/.test(l)).slice(-10);
    throw new Error(`${(err as Error).message}\nincident ${incidentId}:\n${await story(incidentId)}\nbelay answered: ${answers.join("\n") || "nothing"}\nbelay's warnings and errors:\n${log.join("\n")}\nSlack messages:\n${msgs.join("\n")}`);
  }
}

async function triaged(incidentId: string): Promise<boolean> {
  const r = await stack.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM incident_jobs WHERE incident_id = $1 AND kind = 'triage' AND status IN ('pending', 'running')`, [incidentId]);
  return Number(r.rows[0]!.n) === 0;
}

async function firing(alertname: string): Promise<boolean> {
  return (await stack.promAlerts()).some((a) => a.labels.alertname === alertname && a.state === "firing");
}

/** The message showing this run, as it looks now, if it has an Approve button. */
function approvable(runId: string): { ts: string; channel: string; button: { actionId: string; value: string; blockId: string } } | undefined {
  for (const m of stack.slack.messages().values()) {
    if (!JSON.stringify(m.blocks ?? []).includes(runId)) continue;
    const b = buttons(m.blocks).find((x) => x.actionId.startsWith("belay.approve."));
    if (b) return { ts: m.ts, channel: m.channel, button: b };
  }
  return undefined;
}

async function clickApprove(runId: string, user = "UALICE"): Promise<void> {
  const m = approvable(runId);
  if (!m) throw new Error(`no Approve button shown for run ${runId}`);
  const { body, headers } = signedClick({ secret: SIGNING_SECRET, user, channel: m.channel, ts: m.ts, actionId: m.button.actionId, value: m.button.value, blockId: m.button.blockId });
  const res = await fetch(`${stack.belay.url}/slack/events`, { method: "POST", headers, body });
  expect(res.status).toBe(200);
}

async function runStatus(runId: string): Promise<string> {
  return (await stack.db.query<{ status: string }>(`SELECT status FROM runs WHERE id = $1`, [runId])).rows[0]!.status;
}

/** Messages belay posted that mention this incident (thread root and replies). */
function slackAbout(incidentId: string): Record<string, any>[] {
  return [...stack.slack.messages().values()].filter((m) => JSON.stringify([m.text, m.blocks]).includes(incidentId));
}

/** Back to a healthy Redis and Postgres, nothing firing, every incident closed. */
async function quiet(): Promise<void> {
  const r = stack.redis.admin;
  await r.config("SET", "maxmemory", "64mb");
  await r.config("SET", "maxmemory-policy", "noeviction");
  await r.config("SET", "maxclients", "10000");
  await r.flushall();
  await waitFor("Prometheus to have no pending or firing alert", async () => (await stack.promAlerts()).length === 0, 100_000, 500);
  await waitFor(
    "every incident to be resolved",
    async () => (await stack.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM incidents WHERE status = 'open'`)).rows[0]!.n === 0,
    30_000,
    500,
  ).catch((err) => console.log(`[stack] note: ${(err as Error).message}`));
}

/**
 * Until the newest resolution of an incident about the Redis is more than the settle window
 * ago: an alert about it now opens a new incident instead of reopening the last one.
 */
async function pastSettle(): Promise<void> {
  const r = await stack.db.query<{ at: Date | null }>(
    `SELECT max(i.resolved_at) AS at FROM incidents i
      WHERE EXISTS (SELECT 1 FROM incident_alerts a WHERE a.incident_id = i.id AND a.alert->'labels'->>'alertname' LIKE 'Redis%')`,
  );
  const at = r.rows[0]?.at;
  if (at) await sleep(Math.max(0, new Date(at).getTime() + (RESOLVE_SETTLE_SECONDS + 1) * 1000 - Date.now()));
}

/** Fills the Redis with 4 KB values until it refuses a write (maxmemory, noeviction). */
async function fillUntilOom(): Promise<number> {
  const r = stack.redis.admin;
  await r.config("SET", "maxmemory-policy", "noeviction");
  await r.config("SET", "maxmemory", "3mb");
  const value = "x".repeat(4096);
  for (let i = 0; i < 10_000; i++) {
    try {
      await r.set(`fill:${i}`, value);
    } catch (err) {
      if (/OOM/.test((err as Error).message)) return i;
      throw err;
    }
  }
  throw new Error("Redis never refused a write");
}

async function writeSucceeds(): Promise<boolean> {
  return (await stack.redis.admin.set(`after:${Date.now()}`, "x".repeat(4096))) === "OK";
}

/** The maxmemory incident up to its proposal: the run waiting at set-policy, shown in Slack with Approve. */
async function maxmemoryProposal(p: Phases, since: Date): Promise<{ incident: IncidentRow; run: RunRow }> {
  p.fault();
  await fillUntilOom();
  await waitFor("RedisOutOfConfiguredMaxmemory firing", () => firing("RedisOutOfConfiguredMaxmemory"), 30_000);
  p.mark("firing");
  const incident = await waitFor("the alert to reach belay", () => incidentWith("RedisOutOfConfiguredMaxmemory", since), 30_000);
  p.mark("webhook");
  const run = await proposal(incident.id, "redis-maxmemory-policy");
  p.mark("proposal");
  return { incident, run };
}

describe.skipIf(skipAll)("belay on a real Prometheus + Alertmanager stack", () => {
  beforeAll(async () => {
    if (why) throw new Error(`the stack cannot run here: ${why}`);
    stack = await startStack({ maxMs: 15 * 60_000 });
  }, 180_000);

  afterAll(async () => {
    if (!stack) return;
    await stack.close();
  }, 60_000);

  it("prometheus target: query and queryRange against the stack's Prometheus, errors with causes", async () => {
    const prom = createPrometheusTarget("stack", stack.prometheusUrl);
    const up = await prom.query("redis_up");
    expect(up.type).toBe("vector");
    expect(up.series).toHaveLength(1);
    expect(up.series[0]!.labels).toMatchObject({ __name__: "redis_up", instance: `127.0.0.1:${stack.redisExporterPort}`, job: "redis" });
    expect(up.series[0]!.value).toBe(1);
    expect(await prom.query("scalar(vector(3))")).toMatchObject({ type: "scalar", series: [{ value: 3 }] });
    // The published rule's division by maxmemory 0 is +Inf, and reads back as such.
    expect((await prom.query("vector(1) / 0")).series[0]!.value).toBe(Infinity);

    // A few seconds of samples (the stack has just started).
    const range = await waitFor("a few seconds of samples", async () => {
      const end = new Date();
      const r = await prom.queryRange("redis_connected_clients", new Date(end.getTime() - 20_000), end, 1);
      return r.length === 1 && r[0]!.values.length > 3 ? r : undefined;
    }, 20_000, 500);
    expect(range[0]!.values.every((v) => v.value >= 1 && !Number.isNaN(Date.parse(v.at)))).toBe(true);

    await expect(prom.query("sum(")).rejects.toThrow(/prometheus stack: bad_data: .*parse error.*\(query sum\(\)/);
    const nobody = await freePort();
    await expect(createPrometheusTarget("gone", `http://127.0.0.1:${nobody}`).query("up")).rejects.toThrow(`prometheus gone (http://127.0.0.1:${nobody}): connect ECONNREFUSED 127.0.0.1:${nobody}`);
    const ac = new AbortController();
    ac.abort(new Error("run aborted"));
    await expect(prom.query("up", { signal: ac.signal })).rejects.toThrow(/query aborted \(run aborted\)/);
  });

  scenario("false-positive", "maxmemory 0: the published RedisOutOfConfiguredMaxmemory fires (+Inf); nobody is asked", async (p) => {
    const since = new Date();
    p.fault();
    await stack.redis.admin.config("SET", "maxmemory", "0");
    await waitFor("RedisOutOfConfiguredMaxmemory firing", () => firing("RedisOutOfConfiguredMaxmemory"), 30_000);
    p.mark("firing");
    const incident = await waitFor("the alert to reach belay", () => incidentWith("RedisOutOfConfiguredMaxmemory", since), 30_000);
    p.mark("webhook");
    await waitFor("triage to finish", () => triaged(incident.id), 30_000);
    await sleep(3_000); // time for a proposal to show, if one were coming
    const runs = await runsOf(incident.id);
    p.mark("triaged");
    expect(runs.filter((r) => r.status === "awaiting_approval"), "a run asks for approval on a Redis without maxmemory").toEqual([]);
    for (const r of runs) expect(approvable(r.id), `run ${r.id} shows an Approve button`).toBeUndefined();
    await stack.redis.admin.config("SET", "maxmemory", "64mb");
  });

  scenario("maxmemory", "a real maxmemory incident: proposal with the target resolved, signed Approve, writes succeed, resolved, closed", async (p) => {
    const since = new Date();
    const { incident, run } = await maxmemoryProposal(p, since);
    expect(run.params.redis).toBe("cache");
    const steps = await stepsOf(run.id);
    expect(steps.find((s) => s.name === "memory")).toMatchObject({ status: "succeeded", output: { policy: "noeviction", maxmemoryBytes: 3 * 1024 * 1024 } });
    expect(steps.find((s) => s.name === "set-policy")).toMatchObject({ status: "awaiting_approval" });
    expect(steps.find((s) => s.name === "set-policy")!.preview).toContain("allkeys-lru");

    await clickApprove(run.id);
    p.mark("approved");
    await waitFor("the run to succeed", async () => (await runStatus(run.id)) === "succeeded", 30_000);
    expect(await writeSucceeds()).toBe(true);
    expect(await stack.redis.admin.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "allkeys-lru"]);
    p.mark("fixed");
    // The alert's own expression reached the steps, and verify read it back from Prometheus.
    expect(run.params.expr).toBe("redis_memory_used_bytes / redis_memory_max_bytes * 100 > 90");
    const verified = await stack.db.query<{ data: string }>(`SELECT data FROM audit_events WHERE run_id = $1 AND kind = 'step.verified' AND step = 'set-policy'`, [run.id]);
    const detail = (JSON.parse(verified.rows[0]!.data) as { detail: string }).detail;
    expect(detail).toMatch(/^maxmemory-policy allkeys-lru; no write refused for memory in [\d.]+ s; [^;]+; the alert's expression (still holds: [\d.]+ on 127\.0\.0\.1:\d+, so the alert keeps firing|no longer holds)/);
    console.log(`[stack] maxmemory: verify said "${detail}"`);

    // The follow-up the playbook asks for: size maxmemory for the working set. Then the alert resolves.
    await stack.redis.admin.config("SET", "maxmemory", "64mb");
    await waitFor("the incident to be resolved", async () => (await incidentWith("RedisOutOfConfiguredMaxmemory", since))?.status === "resolved", 60_000);
    p.mark("resolved");
    // The firing expression over the incident window, as a PNG in the incident's thread.
    const root = [...stack.slack.messages().values()].find((m) => !m.thread_ts && JSON.stringify(m.blocks ?? []).includes(incident.id));
    expect(root, "the incident's thread root").toBeDefined();
    const complete = await waitFor("the chart's upload into the incident's thread", () => stack.slack.of("files.completeUploadExternal").find((c) => c.body.thread_ts === root!.ts), 20_000);
    expect(complete.body).toMatchObject({ channel_id: CHANNEL, thread_ts: root!.ts });
    const upload = stack.slack.uploads.find((u) => JSON.stringify(complete.body.files).includes(u.fileId))!;
    const start = upload.bytes.indexOf(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    const end = upload.bytes.indexOf(Buffer.from("IEND")) + 8;
    const png = PNG.sync.read(upload.bytes.subarray(start, end));
    if (process.env.BELAY_STACK_DUMP) writeFileSync(join(process.env.BELAY_STACK_DUMP, "thread-chart.png"), upload.bytes.subarray(start, end));
    expect([png.width, png.height]).toEqual([900, 360]);
    let red = 0;
    for (let i = 0; i < png.data.length; i += 4) if (Math.abs(png.data[i]! - 214) + Math.abs(png.data[i + 1]! - 39) + Math.abs(png.data[i + 2]! - 40) < 40) red++;
    expect(red, "the series is drawn").toBeGreaterThan(20);
    // The postmortem gets the same chart, over the whole incident.
    const chartFile = join(stack.dir, "postmortem.png");
    const pm = await execFileP(process.execPath, ["bin/belay.mjs", "postmortem", incident.id, "--chart", chartFile], { env: { ...process.env, ...stack.cliEnv }, timeout: 60_000 });
    expect(pm.stdout).toContain(`![RedisOutOfConfiguredMaxmemory over the incident](${chartFile})`);
    expect(PNG.sync.read(readFileSync(chartFile)).width).toBe(900);
    const said = slackAbout(incident.id);
    expect(said.length).toBeGreaterThanOrEqual(2);
    expect(said.every((m) => m.channel === CHANNEL)).toBe(true);
    expect(JSON.stringify(said.map((m) => m.blocks))).toContain("RedisOutOfConfiguredMaxmemory");
  });

  scenario("kill-9", "kill -9 belay mid-incident, restart, approve, fixed", async (p) => {
    const since = new Date();
    const { run } = await maxmemoryProposal(p, since);
    await stack.belay.kill9();
    p.mark("killed");
    await stack.belay.restart();
    p.mark("restarted");
    await clickApprove(run.id, "UBOB");
    p.mark("approved");
    await waitFor("the run to succeed", async () => (await runStatus(run.id)) === "succeeded", 30_000);
    expect(await writeSucceeds()).toBe(true);
    p.mark("fixed");
    await stack.redis.admin.config("SET", "maxmemory", "64mb");
    await waitFor("the incident to be resolved", async () => (await incidentWith("RedisOutOfConfiguredMaxmemory", since))?.status === "resolved", 60_000);
    p.mark("resolved");
  });

  scenario("drill-real-detect", "the redis-maxmemory drill with --detect real: no synthetic alert, Prometheus's own rule fires, MTTD measured, approved, recovered, undone", async (p) => {
    const since = new Date();
    const url = `redis://127.0.0.1:${stack.redis.port}`;
    // The drill in this process, on the stack's store: the stack's belay serve gets the real alert and proposes.
    const targets = createTargets({ redis: { cache: { url } }, postgres: {}, kube: {} });
    const faults = createDrillFaults({ redis: { cache: { url, drill: true } } }, new RehearsalWorld());
    const stopApprover = new AbortController();
    let approvedRun: string | null = null;
    // The on-call: approves the proposal in Slack when it shows.
    const approver = (async () => {
      while (!stopApprover.signal.aborted) {
        const r = await stack.db.query<{ id: string }>(`SELECT id FROM runs WHERE playbook_id = 'redis-maxmemory-policy' AND status = 'awaiting_approval' AND created_at >= $1 LIMIT 1`, [since]);
        const id = r.rows[0]?.id;
        if (id && approvable(id)) {
          p.mark("proposal");
          await clickApprove(id);
          p.mark("approved");
          approvedRun = id;
          return;
        }
        await sleep(200);
      }
    })();
    try {
      const report = await runDrill(
        {
          db: stack.db,
          clock: () => new Date(),
          newId,
          logger: silentLogger,
          targets,
          faults,
          targetDirectory: { redis: { cache: { labels: { instance: `127.0.0.1:${stack.redisExporterPort}` } }, sessions: { labels: { instance: "sessions-exporter.monitoring:9121" } } } },
          owner: newId("stack-drill"),
          tickMs: 250,
          // Real detection never sends one.
          sendAlert: async () => {
            throw new Error("a --detect real drill sent a synthetic alert");
          },
          onPhase: (phase) => {
            if (phase === "captured") p.fault();
            if (phase === "injected") p.mark("injected");
          },
          progress: (line) => {
            if (/\] alert\.received:/.test(line)) p.mark("webhook");
            if (/\] system\.recovered:/.test(line)) p.mark("fixed");
            if (/\] injection\.undone:/.test(line)) p.mark("undone");
          },
        },
        redisDrill,
        { startedBy: "UCAROL", detect: { mode: "real", withinS: 60 } },
      );
      const md = drillReportMarkdown(report);
      if (report.detection?.mode === "real" && report.detection.startsAt) p.markAt("firing", new Date(report.detection.startsAt));
      expect(report.status, md).toBe("passed");
      expect(report.detection).toMatchObject({ mode: "real", fired: true, alertname: "RedisOutOfConfiguredMaxmemory" });
      const fired = report.criteria.find((c) => c.name === "alert fired")!;
      expect(fired.ok, md).toBe(true);
      expect(report.scores.detectS).toBe(fired.measured);
      expect(report.proposedPlaybook).toBe("redis-maxmemory-policy");
      expect(report.runId).toBe(approvedRun);
      expect(report.undo.every((u) => u.undone)).toBe(true);
      // Undone exactly: quiet()'s 64mb and noeviction are back, and the drill's keys are gone.
      expect(await stack.redis.admin.config("GET", "maxmemory")).toEqual(["maxmemory", String(64 * 1024 * 1024)]);
      expect(await stack.redis.admin.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
      expect((await stack.redis.admin.scan("0", "MATCH", `belay:drill:${report.drillRunId}:*`, "COUNT", 10_000))[1]).toEqual([]);
      // The real alert's incident is the drill's, and it resolves once the undo has the memory back.
      const incident = await waitFor("the drill's incident", () => incidentWith("RedisOutOfConfiguredMaxmemory", since), 10_000);
      expect(report.incidentId).toBe(incident.id);
      await waitFor("the incident to be resolved", async () => (await incidentWith("RedisOutOfConfiguredMaxmemory", since))?.status === "resolved", 60_000);
      p.mark("resolved");
      console.log(`[stack] drill-real-detect: MTTD ${fired.measured} s (${fired.detail})`);
    } finally {
      stopApprover.abort();
      await approver;
      await faults.close();
      await targets.close();
    }
  });

  scenario("postgres-idle", "Postgres idle in transaction (non-superuser app role at its CONNECTION LIMIT): nothing needed under 10 min, a person's run for seconds-old sessions terminates them", async (p) => {
    const since = new Date();
    const sessions: pg.Client[] = [];
    const ended = new Set<pg.Client>();
    let lastOpened = 0;
    const open = async () => {
      const c = new pg.Client({ connectionString: stack.postgres.url("app", "app"), application_name: "leaky-app" });
      c.on("error", () => ended.add(c));
      c.on("end", () => ended.add(c));
      await c.connect();
      await c.query("BEGIN");
      await c.query("SELECT 1");
      sessions.push(c);
      lastOpened = Date.now();
    };
    try {
      p.fault();
      for (let i = 0; i < APP_CONNECTION_LIMIT - 2; i++) await open();
      await waitFor(
        "PostgresqlTooManyConnections firing",
        async () => {
          if (await firing("PostgresqlTooManyConnections")) return true;
          if (sessions.length < APP_CONNECTION_LIMIT) await open();
          return false;
        },
        40_000,
        2_000,
      );
      p.mark("firing");
      const incident = await waitFor("the alert to reach belay", () => incidentWith("PostgresqlTooManyConnections", since), 30_000);
      p.mark("webhook");
      // belay's own run: no session has been idle in transaction for the default 10 minutes.
      const auto = await automaticOutcome(incident.id, "postgres-terminate-idle-in-transaction");
      expect(auto.outcome.kind, await story(incident.id)).toBe("nothing_needed");
      expect(auto.outcome.fixed).toBe(false);
      expect(auto.outcome.reasons.join(" ")).toContain("idle in transaction for 10 min or more");
      expect(approvable(auto.run.id), "the automatic run shows an Approve button").toBeUndefined();
      p.mark("nothing-needed");
      // The app takes every slot its role may have: it is now refused; belay's role is not.
      let refused = "";
      while (!refused && sessions.length < APP_CONNECTION_LIMIT + 5) await open().catch((err) => (refused = (err as Error).message));
      expect(refused).toMatch(/too many connections for role "app"/);
      // The person's threshold: 3 s, and every leaked session is older than that.
      await sleep(Math.max(0, lastOpened + 3_500 - Date.now()));
      const run = await personsProposal(incident.id, "postgres-terminate-idle-in-transaction", "olderThanMinutes=0.05");
      expect(run.params).toMatchObject({ postgres: "main", olderThanMinutes: 0.05 });
      p.mark("proposal");
      await clickApprove(run.id, "UBOB");
      p.mark("approved");
      await waitFor("the run to succeed", async () => (await runStatus(run.id)) === "succeeded", 30_000).catch(async (err) => {
        throw new Error(`${(err as Error).message}\n${await story(incident.id)}`);
      });
      // Every session the app holds (a refused connect is no session).
      await waitFor("the app's sessions to be terminated", () => sessions.every((c) => ended.has(c)), 10_000);
      p.mark("fixed");
      const after = await stepsOf(run.id);
      expect(after.find((s) => s.name === "terminate")!.status).toBe("succeeded");
      expect(after.find((s) => s.name === "terminate")!.output.signalled).toHaveLength(sessions.length);
      const outcomes = await incidentRunOutcomes(stack.db, incident.id);
      expect(outcomes.find((o) => o.runId === run.id)!.outcome).toMatchObject({ kind: "changed", fixed: true });
      await waitFor("the incident to be resolved", async () => (await incidentWith("PostgresqlTooManyConnections", since))?.status === "resolved", 60_000);
      p.mark("resolved");
    } finally {
      await Promise.all(sessions.map((c) => c.end().catch(() => {})));
    }
  });

  scenario("storm", "200 alerts posted to Alertmanager's API: a handful of incidents, every alert kept, all resolved", async (p) => {
    const since = new Date();
    const names = ["StormDiskFull", "StormHighLatency", "StormErrorRate", "StormQueueBacklog"];
    const alerts = (endsAt: Date) =>
      Array.from({ length: 200 }, (_, i) => ({
        labels: { alertname: names[i % 4]!, instance: `storm-${i % 4}.internal:9100`, job: "storm", shard: String(i), severity: "warning" },
        annotations: { summary: `storm alert ${i}` },
        startsAt: since.toISOString(),
        endsAt: endsAt.toISOString(),
        generatorURL: "http://prometheus.internal/graph?g0.expr=up&g0.tab=1",
      }));
    const post = async (endsAt: Date) => {
      const res = await fetch(`${stack.alertmanagerUrl}/api/v2/alerts`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(alerts(endsAt)) });
      expect(res.status).toBe(200);
    };
    p.fault();
    await post(new Date(Date.now() + 10 * 60_000));
    const stormAlerts = async () =>
      (await stack.db.query<{ incident_id: string; status: string }>(`SELECT incident_id, status FROM incident_alerts WHERE alert->'labels'->>'job' = 'storm'`)).rows;
    await waitFor("all 200 alerts in belay", async () => (await stormAlerts()).length === 200, 60_000, 500);
    p.mark("webhook");
    const incidents = new Set((await stormAlerts()).map((a) => a.incident_id));
    expect(incidents.size).toBeGreaterThanOrEqual(1);
    expect(incidents.size).toBeLessThanOrEqual(8);
    await post(new Date(Date.now() - 1_000));
    await waitFor("every storm alert resolved", async () => (await stormAlerts()).every((a) => a.status === "resolved"), 60_000, 500);
    await waitFor(
      "the storm's incidents resolved",
      async () => (await stack.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM incidents WHERE id = ANY($1) AND status = 'open'`, [[...incidents]])).rows[0]!.n === 0,
      30_000,
    );
    p.mark("resolved");
    // Alertmanager never had a delivery refused.
    const metrics = await (await fetch(`${stack.alertmanagerUrl}/metrics`)).text();
    const failed = /alertmanager_notifications_failed_total\{integration="webhook"[^}]*\} (\d+)/.exec(metrics);
    expect(Number(failed?.[1] ?? 0)).toBe(0);
    console.log(`[stack] storm: 200 alerts -> ${incidents.size} incidents`);
  });

  scenario("too-many-connections", "Redis at maxclients: one incident, nothing needed under 600 s, a person's run for seconds-idle clients survives the exporter losing its connection, clients killed", async (p) => {
    // kill-9's incident about cache resolved moments ago; within the settle window this outage would reopen it.
    await pastSettle();
    const since = new Date();
    const sockets: Socket[] = [];
    let closedByServer = 0;
    const openSocket = () =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect(stack.redis.port, "127.0.0.1", () => resolve(s));
        s.on("error", reject);
        s.on("close", () => closedByServer++);
        sockets.push(s);
      });
    try {
      await stack.redis.admin.config("SET", "maxclients", "106");
      p.fault();
      for (let i = 0; i < 101; i++) await openSocket();
      await waitFor("RedisTooManyConnections firing", () => firing("RedisTooManyConnections"), 30_000);
      p.mark("firing");
      const incident = await waitFor("the alert to reach belay", () => incidentWith("RedisTooManyConnections", since), 30_000);
      p.mark("webhook");
      // belay's own run: no client has been idle for the default 600 s.
      const auto = await automaticOutcome(incident.id, "redis-kill-idle-clients");
      expect(auto.outcome.kind, await story(incident.id)).toBe("nothing_needed");
      expect(auto.outcome.fixed).toBe(false);
      expect(auto.outcome.reasons.join(" ")).toContain("idle for 600 s or more");
      expect(approvable(auto.run.id), "the automatic run shows an Approve button").toBeUndefined();
      p.mark("nothing-needed");
      // The person's threshold: 1 s (the leaked sockets were opened seconds ago). Two Redis targets are configured, so the person names this one.
      const run = await personsProposal(incident.id, "redis-kill-idle-clients", "redis=cache idleSeconds=1");
      expect(run.params).toMatchObject({ redis: "cache", idleSeconds: 1 });
      p.mark("proposal");
      // Up to the limit: the exporter can no longer connect, and the connection alerts' series vanish.
      for (let i = 0; i < 10; i++) await openSocket();
      await waitFor("RedisDown firing (the exporter is refused)", () => firing("RedisDown"), 30_000);
      await waitFor("RedisTooManyConnections no longer firing", async () => !(await firing("RedisTooManyConnections")), 30_000);
      p.mark("exporter-lost");
      await sleep(5_000);
      expect(await runStatus(run.id), await story(incident.id)).toBe("awaiting_approval");
      const opened = (await incidentsSince(since)).filter((i) => i.created_at >= since);
      expect(opened.map((i) => i.alertnames.sort()), "one incident for one Redis").toHaveLength(1);
      expect(opened[0]).toMatchObject({ id: incident.id, status: "open" });
      expect(opened[0]!.alertnames).toContain("RedisDown");

      const before = closedByServer;
      await clickApprove(run.id);
      p.mark("approved");
      await waitFor("the run to succeed", async () => (await runStatus(run.id)) === "succeeded", 30_000).catch(async (err) => {
        throw new Error(`${(err as Error).message}\n${await story(incident.id)}`);
      });
      expect(closedByServer - before, await story(incident.id)).toBeGreaterThan(0);
      expect((await stepsOf(run.id)).find((x) => x.name === "kill-idle")!.output.killed, "the leaked clients the preview listed").toBeGreaterThanOrEqual(101);
      p.mark("fixed");
      for (const s of sockets) s.destroy();
      await waitFor("the incident to be resolved", async () => (await incidentWith("RedisTooManyConnections", since))?.status === "resolved", 90_000);
      p.mark("resolved");
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  scenario("target-errors", "a Redis target goes away mid-incident: its client's errors go to belay's log, never '[ioredis] Unhandled error event'", async (p) => {
    const since = new Date();
    await maxmemoryProposal(p, since); // belay now holds a connection to the target
    const log = stack.belay.proc.log;
    const before = readFileSync(log, "utf8").length;
    await stack.redis.kill();
    p.mark("redis-killed");
    await waitFor("RedisDown firing", () => firing("RedisDown"), 30_000);
    p.mark("firing");
    await waitFor("RedisDown to reach belay", () => incidentWith("RedisDown", since), 30_000);
    p.mark("webhook");
    await sleep(3_000);
    const printed = readFileSync(log, "utf8").slice(before);
    await stack.redis.restart();
    p.mark("restarted");
    await stack.redis.admin.config("SET", "maxmemory", "64mb");
    await waitFor("the incidents to be resolved", async () => (await incidentsSince(since)).filter((i) => i.created_at >= since).every((i) => i.status === "resolved"), 60_000);
    p.mark("resolved");
    expect(printed).not.toContain("Unhandled error event");
    expect(printed).toContain(`redis target cache: connect ECONNREFUSED 127.0.0.1:${stack.redis.port}`);
  });

  scenario("redis-down", "Redis down: RedisDown and RedisMissingMaster are one incident", async (p) => {
    // target-errors' incident about cache resolved moments ago, and a related alert within the settle
    // window reopens such an incident (by design: a flapping Redis is one outage). This one is a new outage.
    await pastSettle();
    const since = new Date();
    p.fault();
    await stack.redis.kill();
    await waitFor("RedisDown firing", () => firing("RedisDown"), 30_000);
    p.mark("firing");
    await waitFor("RedisDown to reach belay", () => incidentWith("RedisDown", since), 30_000);
    p.mark("webhook");
    // The published rule counts every scraped Redis: with this one down there is none, and it fires without an instance label.
    await waitFor("RedisMissingMaster firing", () => firing("RedisMissingMaster"), 30_000);
    await waitFor("RedisMissingMaster to reach belay", async () => (await incidentsSince(since)).some((i) => i.alertnames.includes("RedisMissingMaster")), 30_000);
    await sleep(3_000);
    const opened = (await incidentsSince(since)).filter((i) => i.created_at >= since);
    const touched = (await incidentsSince(since)).filter((i) => i.created_at < since).map((i) => `${i.id} ${i.alertnames.join(",")}`);
    await stack.redis.restart();
    p.mark("restarted");
    await waitFor("the incidents to be resolved", async () => (await incidentsSince(since)).filter((i) => i.created_at >= since).every((i) => i.status === "resolved"), 60_000);
    p.mark("resolved");
    expect(opened.map((i) => i.alertnames.sort()), `one new incident holding both (older incidents touched: ${touched.join("; ") || "none"})`).toEqual([["RedisDown", "RedisMissingMaster"]]);
  });
});
