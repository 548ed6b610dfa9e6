import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startOwnRedis } from "../helpers/own-redis.ts";
import { catalog } from "../../src/catalog/index.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { recoverOrphanedDrills } from "../../src/drills/recover.ts";
import { systemPrincipal } from "../../src/identity/index.ts";
import { drillReportMarkdown } from "../../src/drills/report.ts";
import { runDrill, type DrillDeps } from "../../src/drills/runner.ts";
import { RehearsalWorld } from "../../src/drills/simulation.ts";
import { getDrillRun, requestDrillAbort } from "../../src/drills/store.ts";
import { createMatcher } from "../../src/match/index.ts";
import { buildPostmortem } from "../../src/postmortem/draft.ts";
import { createHttpServer, listen } from "../../src/server/http.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { SlackSurface } from "../../src/slack/surface.ts";
import { createTargets } from "../../src/targets/registry.ts";
import redisDrill from "../../playbooks/drills/redis-maxmemory.ts";
import redisPlaybook from "../../playbooks/redis-maxmemory-policy.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { runChild } from "../helpers/child.ts";
import { testEngine } from "../helpers/engine.ts";
import { BOT_TOKEN, buttonValue, CHANNEL, fakeSlackApi, sign, SIGNING_SECRET, TEAM, type FakeSlack } from "../helpers/slack.ts";
import { AM_TOKEN, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

/*
 * The real drill on a Redis of this file's own (CONFIG SET never touches the shared 6379, whose
 * other writers would be refused with OOM while the drill holds it at maxmemory): the drill's
 * keys live in db 11 with a TTL and a unique prefix, and maxmemory / maxmemory-policy are read
 * first and must be exactly restored after every test (a safety net restores them anyway).
 */
let own: Awaited<ReturnType<typeof startOwnRedis>>;
let REDIS_URL: string;

let store: TestStore;
let slack: FakeSlack;
let surface: SlackSurface;
let h: IngestHarness;
let slackUrl: string;
let closeSlackServer: () => Promise<void>;
let targets: ReturnType<typeof createTargets>;
let faults: ReturnType<typeof createDrillFaults>;
let raw: Redis;
let before: { maxmemory: string; policy: string };
let approving = true;

const config = async () => ({
  maxmemory: ((await raw.config("GET", "maxmemory")) as string[])[1]!,
  policy: ((await raw.config("GET", "maxmemory-policy")) as string[])[1]!,
});
const drillKeys = async (id: string) => (await raw.scan("0", "MATCH", `belay:drill:${id}:*`, "COUNT", 10_000))[1];

function deps(extra: Partial<DrillDeps> = {}): DrillDeps {
  return {
    db: store.db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets,
    faults,
    owner: newId("test"),
    leaseMs: 900,
    tickMs: 100,
    sendAlert: async (payload) => (await h.postAm(payload)).status,
    abortRun: async (runId, reason) => void (await h.engine.decide({ kind: "abort", runId, actor: systemPrincipal("drill"), reason })),
    ...extra,
  };
}

/** The scripted approver: clicks Approve on the proposal as UBOB, through the real Slack app. */
async function approveWhenAsked(signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    for (const m of slack.posted()) {
      const latest = slack.latest(m.ts) ?? m;
      const value = approving ? buttonValue(latest.blocks ?? [], "belay.approve") : undefined;
      if (!value) continue;
      const body = new URLSearchParams({
        payload: JSON.stringify({
          type: "block_actions",
          user: { id: "UBOB", username: "bob", team_id: TEAM },
          api_app_id: "A0BELAY",
          token: "legacy",
          container: { type: "message", message_ts: m.ts, channel_id: CHANNEL, is_ephemeral: false },
          trigger_id: "13345224609.738474920.8088930838d88f008e1",
          team: { id: TEAM, domain: "acme" },
          channel: { id: CHANNEL, name: "incidents" },
          message: { type: "message", ts: m.ts, text: "" },
          response_url: "https://hooks.slack.com/actions/T0001/1/x",
          actions: [{ type: "button", action_id: "belay.approve.0", block_id: "run:0", value, action_ts: String(Date.now() / 1000) }],
        }),
      }).toString();
      const res = await fetch(slackUrl, { method: "POST", headers: sign(body), body });
      expect(res.status).toBe(200);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  own = await startOwnRedis();
  REDIS_URL = `${own.url}/11`;
  raw = new Redis(REDIS_URL);
  before = await config();
  store = await openTestStore("pg", "drill_redis");
  slack = fakeSlackApi();
  targets = createTargets({ redis: { cache: { url: REDIS_URL } }, postgres: {}, kube: {} });
  const drillTarget = { url: REDIS_URL, drill: true }; // marked for drills: live faults may go here
  faults = createDrillFaults({ redis: { cache: drillTarget } }, new RehearsalWorld());
  let s: SlackSurface | null = null;
  const { engine } = testEngine({ db: store.db, playbooks: [redisPlaybook], targets, extra: { onEvents: (e) => s?.onEvents(e) } });
  s = surface = new SlackSurface({
    engine,
    matcher: createMatcher([redisPlaybook], catalog),
    logger: silentLogger,
    settings: { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, appToken: null, apiUrl: "https://slack.com/api/", command: "/runbook", channel: CHANNEL, usergroups: {}, usergroupCacheMs: 60_000, buttonTtlMs: 24 * 3600 * 1000 },
    clientOptions: { retryConfig: { retries: 0 } },
    publisher: { paceMs: 5, backoffBaseMs: 20, backoffMaxMs: 200 },
  });
  await surface.start();
  h = await startIngest({ db: store.db, engine, notifier: surface.notifier, playbooks: [redisPlaybook], pagerduty: null, startWorker: true, startEngine: true, extra: { onEvents: (e) => s?.onEvents(e) } });
  const server = createHttpServer({ routes: surface.routes, metrics: new Metrics(), logger: silentLogger, ready: async () => ({ ok: true, detail: "" }) });
  const addr = await listen(server, 0, "127.0.0.1");
  slackUrl = `http://127.0.0.1:${addr.port}/slack/events`;
  closeSlackServer = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
});

afterAll(async () => {
  // Safety net: whatever happened, Redis goes back to how it was.
  await raw.config("SET", "maxmemory", before.maxmemory).catch(() => {});
  await raw.config("SET", "maxmemory-policy", before.policy).catch(() => {});
  await h?.close();
  await surface?.stop();
  await closeSlackServer?.();
  await faults?.close();
  await targets?.close();
  slack?.done();
  nock.cleanAll();
  await store?.close();
  await raw.quit();
  await own?.stop();
});

it("real drill: OOM on Redis -> DRILL alert through the webhook -> playbook proposed -> approved in Slack -> writes recover -> undone, with measured criteria", async () => {
  approving = true;
  const stop = new AbortController();
  const approver = approveWhenAsked(stop.signal);
  const oomSeen: string[] = [];
  const report = await runDrill(
    deps({
      onPhase: async (phase, id) => {
        if (phase !== "injected") return;
        // The injection is real: writes in Redis fail with OOM now. The fill stops at the first
        // refused 2 KiB key, so one tiny write may still fit in what is left; the next is refused.
        for (let i = 0; i < 3 && oomSeen.length === 0; i++) {
          const w = await faults.redis("cache").tryWrite(`belay:drill:${id}:outside:${i}`, 10_000);
          if (!w.ok) oomSeen.push(w.error!);
        }
        expect((await config()).policy).toBe("noeviction");
      },
    }),
    redisDrill,
    { startedBy: "UCAROL" },
  );
  stop.abort();
  await approver;

  expect(oomSeen[0]).toMatch(/^OOM command not allowed/);
  expect(report.status).toBe("passed");
  expect(report.hypothesisHeld).toBe(true);
  expect(report.proposedPlaybook).toBe("redis-maxmemory-policy");
  expect(report.criteria.map((c) => [c.name, c.ok])).toEqual([
    ["right playbook proposed", true],
    ["approved", true],
    ["recovered", true],
  ]);
  for (const c of report.criteria) expect(typeof c.measured).toBe("number");
  expect(report.criteria[1]!.detail).toBe("approved by UBOB");
  const s = report.scores;
  for (const v of [s.detectS, s.acknowledgeS, s.approveS, s.recoverS]) expect(v).toBeGreaterThan(0);
  expect(s.detectS!).toBeLessThanOrEqual(s.approveS!);
  expect(s.approveS!).toBeLessThanOrEqual(s.recoverS!);
  expect(report.undo).toEqual([{ name: "tiny-maxmemory", undone: true, error: null }]);

  // Redis is exactly as it was, and the drill left no key behind.
  expect(await config()).toEqual(before);
  expect(await drillKeys(report.drillRunId)).toEqual([]);

  // The injection and its undo are changes like any other: in the audit chain, by the drill's starter.
  const changes = await store.db.query<{ kind: string; actor: string; surface: string; data: string }>(
    `SELECT kind, actor, surface, data FROM audit_events WHERE kind LIKE 'drill.%' AND data LIKE $1 ORDER BY seq`,
    [`%${report.drillRunId}%`],
  );
  expect(changes.rows.map((r) => ({ kind: r.kind, actor: r.actor, surface: r.surface, ...JSON.parse(r.data) }))).toEqual([
    expect.objectContaining({ kind: "drill.injected", actor: "UCAROL", surface: "drill", drill: "redis-maxmemory", injection: "tiny-maxmemory", simulated: false }),
    expect.objectContaining({ kind: "drill.undone", actor: "UCAROL", surface: "drill", injection: "tiny-maxmemory" }),
  ]);

  // The approval came through Slack; the Slack thread and alert say DRILL.
  const view = await h.engine.view(report.runId!);
  expect(view.run.status).toBe("succeeded");
  expect(view.approvals.map((a) => [a.actor, a.surface])).toEqual([["UBOB", "slack"]]);
  expect(JSON.stringify(slack.of("chat.postMessage")[0]!.blocks)).toContain(`DRILL ${report.drillRunId}`);

  // The report (markdown and JSON, stored) shows every criterion with its measured value.
  const md = drillReportMarkdown(report);
  expect(md).toContain("# DRILL REPORT: Redis at maxmemory refuses writes");
  expect(md).toContain("## Hypothesis: HELD");
  expect(md).toMatch(/\| right playbook proposed \| redis-maxmemory-policy within 60 s of the alert \| [\d.]+ s \| pass \|/);
  expect(md).toMatch(/\| recovered \| within 600 s of the injection \| [\d.]+ s \| pass \|/);
  const row = await getDrillRun(store.db, report.drillRunId);
  expect(row).toMatchObject({ status: "passed", incidentId: report.incidentId, runId: report.runId });
  expect((row!.report as { criteria: unknown[] }).criteria).toHaveLength(3);

  // The drill's incident resolves with the drill, and its review is drafted from a verified chain.
  const pm = await buildPostmortem(store.db, report.incidentId!);
  expect(pm.chain.verified).toBe(true);
  expect(pm.impact.end).not.toBeNull();
  expect(pm.timeline.map((t) => t.kind)).toEqual(expect.arrayContaining(["incident.opened", "run.proposed", "step.approved", "step.verified", "run.succeeded", "incident.resolved"]));
}, 60_000);

it("a second run of the drill shows the trend against the first; abort mid-drill undoes the injection and leaves Redis as it was", async () => {
  approving = false;
  let aborted: string | null = null;
  const report = await runDrill(
    deps({
      onPhase: async (phase, id) => {
        if (phase === "alerted") aborted = (await requestDrillAbort(store.db, id, "UCAROL"))[0]?.id ?? null;
      },
    }),
    redisDrill,
    { startedBy: "UCAROL" },
  );
  expect(aborted).toBe(report.drillRunId);
  expect(report.status).toBe("aborted");
  expect(report.reason).toBe("aborted by UCAROL");
  expect(report.hypothesisHeld).toBeNull();
  expect(report.undo).toEqual([{ name: "tiny-maxmemory", undone: true, error: null }]);
  expect(await config()).toEqual(before);
  expect(await drillKeys(report.drillRunId)).toEqual([]);
  // The first run is the trend's earlier point.
  expect(report.trend.map((t) => t.status)).toEqual(["passed"]);
  expect(drillReportMarkdown(report)).toMatch(/Time to detect: [\d.]+ s \(previous [\d.]+ s/);
  // The proposal nobody approved was stopped, so nothing runs after the undo.
  if (report.runId) expect(["aborted", "succeeded"]).toContain((await h.engine.view(report.runId)).run.status);
}, 60_000);

it("crash mid-drill (SIGKILL after the injection): the next belay undoes it and Redis is as it was", async () => {
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "belay-drill-"));
  const script = join(dir, "drill-child.mts");
  writeFileSync(
    script,
    `
import { openPg } from "${repo}src/store/pg.ts";
import { newId } from "${repo}src/ids.ts";
import { silentLogger } from "${repo}src/execute/deps.ts";
import { createDrillFaults } from "${repo}src/drills/faults.ts";
import { RehearsalWorld } from "${repo}src/drills/simulation.ts";
import { createTargets } from "${repo}src/targets/registry.ts";
import { runDrill } from "${repo}src/drills/runner.ts";
import drill from "${repo}playbooks/drills/redis-maxmemory.ts";
const db = openPg(process.env.PG_URL!);
const url = process.env.REDIS_URL!;
await runDrill({
  db, clock: () => new Date(), newId, logger: silentLogger, owner: "child", leaseMs: 900, tickMs: 100,
  targets: createTargets({ redis: { cache: { url } }, postgres: {}, kube: {} }),
  faults: createDrillFaults({ redis: { cache: { url, drill: true } as { url: string } } }, new RehearsalWorld()),
  sendAlert: async () => 202,
  onPhase: (phase, id) => {
    if (phase !== "injected") return;
    process.stdout.write(JSON.stringify({ phase, id }) + "\\n");
    process.kill(process.pid, "SIGKILL");
  },
}, drill, { startedBy: "child" });
`,
  );
  const child = await runChild(script, { PG_URL: store.url!, REDIS_URL }, 30_000).finally(() => rmSync(dir, { recursive: true, force: true }));
  expect(child.signal, child.stderr).toBe("SIGKILL");
  const id = child.lines[0]!.id as string;

  // The crash left the injection in place: a tiny maxmemory, noeviction, the drill's keys.
  const left = await config();
  expect(left.policy).toBe("noeviction");
  expect(left.maxmemory).not.toBe(before.maxmemory);
  expect((await drillKeys(id)).length).toBeGreaterThan(0);
  expect((await getDrillRun(store.db, id))!.undo).toEqual([{ name: "tiny-maxmemory", state: before, injected: true, undone: false }]);

  // The next belay: the dead process's lease has lapsed, so it undoes the drill.
  await new Promise((r) => setTimeout(r, 1_000));
  const recovered = await recoverOrphanedDrills(deps(), new Map([[redisDrill.id, redisDrill]]));
  expect(recovered).toEqual([{ drillRunId: id, drillId: "redis-maxmemory", undone: ["tiny-maxmemory"], failed: [] }]);
  expect(await config()).toEqual(before);
  expect(await drillKeys(id)).toEqual([]);
  expect(await getDrillRun(store.db, id)).toMatchObject({ status: "crashed", statusReason: "its process stopped mid-drill; the injection was undone by the next belay" });
  const undone = await store.db.query<{ kind: string; actor: string }>(`SELECT kind, actor FROM audit_events WHERE kind LIKE 'drill.%' AND data LIKE $1 ORDER BY seq`, [`%${id}%`]);
  expect(undone.rows).toEqual([
    { kind: "drill.injected", actor: "child" },
    { kind: "drill.undone", actor: "belay" },
  ]);
  // Nothing is undone twice.
  expect(await recoverOrphanedDrills(deps(), new Map([[redisDrill.id, redisDrill]]))).toEqual([]);
}, 60_000);
