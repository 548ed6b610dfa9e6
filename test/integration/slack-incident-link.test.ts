import { personAt } from "../helpers/engine.ts";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import { resolveHandler } from "../../src/incidents/resolve.ts";
import { setIncidentThread } from "../../src/incidents/queries.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { getRun } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { CHANNEL, eventually, fakeSlackApi, startSlack, type FakeSlack, type SlackHarness } from "../helpers/slack.ts";

// A low-risk change anyone may approve, so the test can see the run that fixed the incident.
const state = { limit: 10 };
const raiseLimit = playbook({ id: "raise-limit", title: "Raise a limit", summary: "Raises a limit.", failureModes: [], params: z.object({ to: z.number().int() }) })
  .diagnose("limit", () => ({ limit: state.limit }))
  .act("raise", {
    risk: "low",
    permissions: ["thing:write"],
    locks: { none: "a test step: it changes nothing another run could change" },
    preview: ({ params, outputs }) => `limit ${outputs.limit.limit} -> ${params.to}`,
    run: ({ params }) => {
      const previous = state.limit;
      state.limit = params.to;
      return { previous };
    },
    verify: ({ params }) => ({ ok: state.limit === params.to, detail: `limit ${state.limit}` }),
    rollback: ({ result }) => {
      state.limit = result.previous;
    },
  });

// A proposal whose first diagnostic fails (the target is down).
const unreachable = playbook({ id: "unreachable", title: "Unreachable target", summary: "Reads a target that is down.", failureModes: [], params: z.object({}) })
  .diagnose("connections", async () => {
    await new Promise((r) => setTimeout(r, 800)); // the root is posted first, then the run fails
    throw new Error("connect ECONNREFUSED 127.0.0.1:6399");
  })
  .act("fix", { risk: "low", permissions: ["thing:write"], locks: { none: "a test step: it changes nothing another run could change" }, preview: () => "fix", run: () => ({}), verify: () => true, irreversible: "test" });

let store: TestStore;
let slack: FakeSlack;
let h: SlackHarness;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
  store = await openTestStore("pglite", "slack_incident_link");
  slack = fakeSlackApi();
  h = await startSlack({ db: store.db, playbooks: [raiseLimit, unreachable] });
});
afterAll(async () => {
  await h?.close();
  slack?.done();
  await store?.close();
  nock.enableNetConnect();
});

const textOf = (m: { text?: string; blocks?: any[] } | undefined) => (m?.blocks ?? []).map((b) => b.text?.text ?? b.elements?.map((e: any) => e.text ?? "").join(" ") ?? "").join("\n");

it("`/runbook run <playbook> incident=<id>` links the run to the incident: posted in its thread, named in its resolution note", async () => {
  const now = new Date();
  await store.db.query(`INSERT INTO incidents (id, title, service, created_at, updated_at) VALUES ('inc_link1', 'Limit reached', 'api', $1, $1)`, [now]);
  // The incident's root, posted as triage posts it (no playbook fitted, so no run yet).
  const thread = (await h.surface.notifier.postTriage({
    incident: { id: "inc_link1", title: "Limit reached", service: "api", drill: false, pagerdutyIncidentId: null },
    alerts: [],
    failureMode: null,
    reasons: [],
    candidates: [],
    runId: null,
    closest: [],
  }))!;
  await setIncidentThread(store.db, "inc_link1", thread, now);
  const ROOT = thread.ts;

  const res = await h.command("run raise-limit to=20 incident=inc_link1", "UALICE");
  expect(res.status).toBe(200);
  await eventually(() => slack.posted().some((p) => p.thread_ts === ROOT));
  const post = slack.posted().find((p) => p.thread_ts === ROOT)!;
  const runId = /Run `(run_[a-z0-9]+)`/.exec(textOf(post))![1]!;
  const run = (await getRun(store.db, runId))!;
  expect(run.incidentId).toBe("inc_link1");
  expect(run.params).toEqual({ to: 20 }); // incident= is not a param of the playbook

  await eventually(async () => (await getRun(store.db, runId))!.status === "awaiting_approval");
  const r = await h.engine.decide({ kind: "approve", runId, step: "raise", actor: personAt("UBOB", "slack"), planHash: (await getRun(store.db, runId))!.planHash });
  expect(r.accepted).toBe(true);
  await eventually(async () => (await getRun(store.db, runId))!.status === "succeeded");

  await store.db.query(`UPDATE incidents SET status = 'resolved', resolved_at = $2 WHERE id = $1`, ["inc_link1", new Date()]);
  const jobState: Record<string, unknown> = {};
  await resolveHandler({ db: store.db, engine: h.engine, notifier: h.surface.notifier, logger: silentLogger })({
    job: { id: "job_1", incidentId: "inc_link1", kind: "resolve", state: jobState, attempts: 1 },
    remember: async (p) => void Object.assign(jobState, p),
    signal: new AbortController().signal,
  });
  await h.settled();
  const note = await eventually(() => slack.posted().find((p) => p.thread_ts === ROOT && String(p.text).startsWith(":white_check_mark: All alerts")));
  expect(note!.text).toBe(
    `:white_check_mark: All alerts of *Limit reached* resolved.\nRuns for this incident:\n• \`${runId}\` \`raise-limit\` by <@UALICE>: *fixed* — changed and verified — raise changed and verified: limit 20`,
  );
});

it("an unknown incident= proposes nothing and says so", async () => {
  const before = slack.posted().length;
  const res = await h.command("run raise-limit to=30 incident=inc_nope", "UALICE");
  expect(res.status).toBe(200);
  await h.settled();
  expect(slack.posted().length).toBe(before);
  const said = await eventually(() => slack.responses.find((c) => String(c.body?.text).includes("No incident `inc_nope`")));
  expect(String(said!.body.text)).toContain("Nothing was proposed");
});

it("the incident root says what its run did: a failed run is never 'mutating steps wait for approval'", async () => {
  const now = new Date();
  await store.db.query(`INSERT INTO incidents (id, title, service, created_at, updated_at) VALUES ('inc_fail1', 'Redis down', 'cache', $1, $1)`, [now]);
  const { runId } = await h.engine.propose({ playbookId: "unreachable", params: {}, requestedBy: "belay", surface: "alertmanager", incidentId: "inc_fail1" });
  const thread = (await h.surface.notifier.postTriage({
    incident: { id: "inc_fail1", title: "Redis down", service: "cache", drill: false, pagerdutyIncidentId: null },
    alerts: [],
    failureMode: null,
    reasons: [],
    candidates: [{ playbook: "unreachable", score: 0.9, reasons: ["test"] }],
    runId,
    closest: [],
  }))!;
  expect(textOf(slack.latest(thread.ts))).not.toContain("*failed*");
  await eventually(async () => (await getRun(store.db, runId))!.status === "failed");
  const root = await eventually(() => {
    const m = slack.latest(thread.ts);
    return textOf(m).includes("*failed*") ? m : undefined;
  });
  expect(textOf(root)).toContain(`Run \`${runId}\` *failed*: step connections failed: connect ECONNREFUSED 127.0.0.1:6399`);
  expect(textOf(root)).not.toContain("wait for approval");
});

it("the incident root's alert count follows the alerts that join it after it was posted", async () => {
  const now = new Date();
  await store.db.query(`INSERT INTO incidents (id, title, service, created_at, updated_at) VALUES ('inc_count1', 'Connection storm', 'db', $1, $1)`, [now]);
  const thread = (await h.surface.notifier.postTriage({
    incident: { id: "inc_count1", title: "Connection storm", service: "db", drill: false, pagerdutyIncidentId: null },
    alerts: [],
    alertCount: { total: 0, firing: 0 },
    failureMode: null,
    reasons: [],
    candidates: [],
    runId: null,
    closest: [],
  }))!;
  for (let i = 0; i < 100; i++) {
    await store.db.query(
      `INSERT INTO incident_alerts (source, fingerprint, incident_id, status, alert, first_seen_at, last_seen_at) VALUES ('alertmanager', $1, 'inc_count1', 'firing', $2, $3, $3)`,
      [`fp-count-${i}`, JSON.stringify({ source: "alertmanager", fingerprint: `fp-count-${i}`, status: "firing", title: `PostgresqlTooManyConnections ${i}`, labels: {}, annotations: {} }), now],
    );
  }
  // What the drain emits when alerts join an open incident.
  h.surface.onEvents([{ seq: 1_000_000, id: "evt_x", at: now.toISOString(), kind: "incident.updated", actor: "belay", surface: "alertmanager", runId: null, incidentId: "inc_count1", step: null, data: { alertsAdded: 100 }, prevHash: "", hash: "" } as never]);
  const root = await eventually(() => {
    const m = slack.latest(thread.ts);
    return textOf(m).includes("*Alerts* (100)") ? m : undefined;
  });
  expect(textOf(root)).toContain("*Alerts* (100)");
});
