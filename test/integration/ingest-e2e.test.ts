import { Redis } from "ioredis";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/events.ts";
import { catalog } from "../../src/catalog/index.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { createMatcher } from "../../src/match/index.ts";
import { acknowledgeIncident, createPagerDutyClient } from "../../src/pagerduty/index.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { SlackSurface } from "../../src/slack/surface.ts";
import { createTargets } from "../../src/targets/registry.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";
import { BOT_TOKEN, CHANNEL, fakeSlackApi, SIGNING_SECRET, type FakeSlack } from "../helpers/slack.ts";
import { PD_API, PD_FROM, PD_TOKEN, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { pdIncidentEvent } from "../fixtures/webhooks/pagerduty.ts";

/*
 * End to end: a signed PagerDuty webhook in -> an incident -> the playbook's diagnose steps
 * run against the machine's real Redis -> the real Slack app posts the thread (slack.com
 * through nock) -> the PagerDuty note (api.pagerduty.com through nock), exact requests.
 * Then the resolution, and the acknowledge button's PagerDuty call.
 */

const REDIS_URL = "redis://127.0.0.1:6379";

const redisMaxmemory = playbook({
  id: "redis-maxmemory-policy",
  title: "Redis at maxmemory: evict instead of refusing writes",
  summary: "Reads memory and the eviction policy; proposes allkeys-lru.",
  failureModes: ["redis-maxmemory"],
  match: [{ alertname: /^Redis(OutOfConfiguredMaxmemory|OutOfMemory)$/ }],
  params: z.object({ redis: z.string().default("cache") }),
  fromAlert: () => ({}),
})
  .diagnose("memory", ({ params, targets }) => targets.redis(params.redis).memoryInfo())
  .diagnose("policy", ({ params, targets }) => targets.redis(params.redis).configGet("maxmemory-policy"))
  .act("set-allkeys-lru", {
    risk: "medium",
    permissions: ["redis:CONFIG"],
    locks: { none: "a test step: it changes nothing another run could change" },
    preview: ({ outputs }) => `maxmemory-policy ${outputs.policy} -> allkeys-lru`,
    run: ({ params, targets }) => targets.redis(params.redis).configSet("maxmemory-policy", "allkeys-lru"),
    verify: async ({ params, targets }) => (await targets.redis(params.redis).configGet("maxmemory-policy")) === "allkeys-lru",
    rollback: ({ params, targets, outputs }) => targets.redis(params.redis).configSet("maxmemory-policy", outputs.policy ?? "noeviction"),
  });

let store: TestStore;
let slack: FakeSlack;
let surface: SlackSurface;
let h: IngestHarness;
let targets: ReturnType<typeof createTargets>;
let events: AuditEvent[];
let policy: string;

beforeAll(async () => {
  const raw = new Redis(REDIS_URL);
  policy = ((await raw.config("GET", "maxmemory-policy")) as string[])[1]!;
  await raw.quit();
  store = await openTestStore("pg", "ingest_e2e");
  slack = fakeSlackApi();
  targets = createTargets({ redis: { cache: { url: REDIS_URL } }, postgres: {}, kube: {} });
  events = [];
  let s: SlackSurface | null = null;
  const { engine } = testEngine({
    db: store.db,
    playbooks: [redisMaxmemory],
    targets,
    extra: {
      onEvents: (e) => {
        events.push(...e);
        s?.onEvents(e);
      },
    },
  });
  s = surface = new SlackSurface({
    engine,
    matcher: createMatcher([redisMaxmemory], catalog),
    logger: silentLogger,
    settings: {
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      appToken: null,
      apiUrl: "https://slack.com/api/",
      command: "/runbook",
      channel: CHANNEL,
      usergroups: {},
      usergroupCacheMs: 60_000,
      buttonTtlMs: 24 * 3600 * 1000,
    },
    clientOptions: { retryConfig: { retries: 0 } },
    publisher: { paceMs: 5, backoffBaseMs: 20, backoffMaxMs: 200 },
  });
  await surface.start();
  h = await startIngest({ db: store.db, engine, notifier: surface.notifier, playbooks: [redisMaxmemory], startWorker: true, startEngine: true, extra: { onEvents: (e) => { events.push(...e); s?.onEvents(e); } } });
});

afterAll(async () => {
  await h.close();
  await surface.stop();
  await targets.close();
  slack.done();
  nock.cleanAll();
  await store.close();
});

it("webhook in -> diagnose against real Redis -> exact Slack and PagerDuty requests out", async () => {
  const notes: { body: any; headers: Record<string, any> }[] = [];
  const pd = nock(PD_API)
    .post("/incidents/PE2E001/notes")
    .reply(function (_uri, body) {
      notes.push({ body, headers: this.req.headers });
      return [201, { note: { id: "PNOTE01", content: (body as any).note.content } }];
    });

  const r = await h.postPd(pdIncidentEvent("incident.triggered", "PE2E001", { title: "[FIRING:1] RedisOutOfConfiguredMaxmemory cache (redis-0)", service: { id: "PSVC01", summary: "cache", type: "service_reference" } }));
  expect(r.status).toBe(202);
  await h.settle();
  await surface.settled();

  // The run: proposed by belay, diagnose steps done against Redis, waiting at the act step.
  const [inc] = (await store.db.query<{ id: string; slack_channel: string; slack_ts: string }>(`SELECT id, slack_channel, slack_ts FROM incidents WHERE pagerduty_incident_id = 'PE2E001'`)).rows;
  const [run] = (await store.db.query<{ id: string }>(`SELECT id FROM runs WHERE incident_id = $1`, [inc!.id])).rows;
  const view = await h.engine.view(run!.id);
  expect(view.run).toMatchObject({ requestedBy: "belay", surface: "pagerduty", status: "awaiting_approval", playbookId: "redis-maxmemory-policy" });
  expect(view.steps.map((s) => [s.name, s.status])).toEqual([["memory", "succeeded"], ["policy", "succeeded"], ["set-allkeys-lru", "awaiting_approval"]]);
  expect(view.steps[1]!.output).toBe(policy);
  expect((view.steps[0]!.output as { usedBytes: number }).usedBytes).toBeGreaterThan(0);

  // Slack: the thread root in the incident channel, then the proposal in its thread.
  const posts = slack.of("chat.postMessage");
  expect(posts.length).toBe(2);
  expect(posts[0]).toMatchObject({ channel: CHANNEL });
  expect(posts[0]!.thread_ts).toBeUndefined();
  expect(JSON.stringify(posts[0]!.blocks)).toContain("RedisOutOfConfiguredMaxmemory");
  expect(JSON.stringify(posts[0]!.blocks)).toContain("PE2E001");
  expect(posts[1]).toMatchObject({ channel: CHANNEL, thread_ts: inc!.slack_ts });
  expect(JSON.stringify(posts[1]!.blocks)).toContain(run!.id);
  expect(JSON.stringify(posts[1]!.blocks)).toContain("set-allkeys-lru");
  expect(inc!.slack_channel).toBe(CHANNEL);

  // PagerDuty: exactly one note, with the From header and the token, saying what belay found.
  expect(pd.isDone()).toBe(true);
  expect(notes).toHaveLength(1);
  expect(notes[0]!.headers).toMatchObject({ from: PD_FROM, authorization: `Token token=${PD_TOKEN}`, "content-type": "application/json; charset=utf-8" });
  const lines = (notes[0]!.body.note.content as string).split("\n");
  expect(lines[0]).toBe("belay triage: failure mode redis-maxmemory");
  expect(lines).toContain(`- policy: ${policy}`);
  // Findings read as lines, not raw JSON: sizes in units, one field after another.
  const memory = lines.find((l) => l.startsWith("- memory: "))!;
  expect(memory).toContain(`policy: ${policy}`);
  expect(memory).toMatch(/usedBytes: [\d.]+ (B|KiB|MiB|GiB)(;|$)/);
  expect(memory).not.toContain("{");
  expect(lines.find((l) => l.startsWith("Outcome: "))).toMatch(/^Outcome: waiting for approval/);
  expect(lines).toContain(`Proposed plan (redis-maxmemory-policy, run ${run!.id}, waiting for approval):`);
  expect(lines).toContain("1. memory [diagnose] succeeded");
  expect(lines).toContain("2. policy [diagnose] succeeded");
  expect(lines).toContain("3. set-allkeys-lru [act, medium risk] awaiting_approval");
  expect(lines[lines.length - 1]).toBe(`Approve or discuss in Slack: channel ${CHANNEL}, thread ${inc!.slack_ts}`);

  // The Slack button's acknowledge: the exact PagerDuty request.
  const acks: any[] = [];
  nock(PD_API)
    .put("/incidents/PE2E001", (body) => (acks.push(body), true))
    .matchHeader("from", PD_FROM)
    .reply(200, { incident: { id: "PE2E001", status: "acknowledged" } });
  const ack = acknowledgeIncident({ db: store.db, client: createPagerDutyClient({ token: PD_TOKEN, from: PD_FROM, apiUrl: PD_API }), clock: () => new Date(), newId, onEvents: (e) => events.push(...e) });
  const result = await ack(inc!.id, { id: "UALICE", surface: "slack" });
  expect(result).toMatchObject({ ok: true, code: "acknowledged" });
  expect(acks).toEqual([{ incident: { type: "incident_reference", status: "acknowledged" } }]);
  expect(events.find((e) => e.kind === "pagerduty.acknowledged")).toMatchObject({ actor: "UALICE", surface: "slack", incidentId: inc!.id });

  // Resolved in PagerDuty: the proposal is withdrawn and the thread says so; no new note.
  slack.clear();
  expect((await h.postPd(pdIncidentEvent("incident.resolved", "PE2E001"))).status).toBe(202);
  await h.settle();
  await surface.settled();
  expect((await h.engine.view(run!.id)).run.status).toBe("aborted");
  const resolvedNote = slack.of("chat.postMessage").find((m) => String(m.text ?? JSON.stringify(m.blocks)).includes("resolved"));
  expect(resolvedNote).toMatchObject({ channel: CHANNEL, thread_ts: inc!.slack_ts });
  expect(String(resolvedNote!.text ?? JSON.stringify(resolvedNote!.blocks))).toContain(run!.id);

  // The incident's audit trail tells the story in order.
  const kinds = events.filter((e) => e.incidentId === inc!.id || e.runId === run!.id).map((e) => e.kind);
  for (const k of ["alert.received", "incident.opened", "run.proposed", "step.succeeded", "pagerduty.note_added", "incident.triaged", "pagerduty.acknowledged", "incident.resolved", "run.aborted"]) {
    expect(kinds).toContain(k);
  }
  expect(kinds.indexOf("incident.opened")).toBeLessThan(kinds.indexOf("run.proposed"));
  expect(kinds.indexOf("incident.triaged")).toBeLessThan(kinds.indexOf("incident.resolved"));
});
