import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/ids.ts";
import { playbook, target, z } from "../../src/sdk/index.ts";
import { renderIncidentMessage, type IncidentContext } from "../../src/slack/blocks/incident.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { buttonValue, eventually, fakeSlackApi, startSlack, type FakeSlack, type SlackHarness } from "../helpers/slack.ts";

/** `/runbook retriage` and the "Propose …" button of an incident whose target belay could not tell, through the real Bolt app. */
const idlePing = playbook({
  id: "redis-ping",
  title: "Ping a Redis",
  summary: "Reads nothing.",
  failureModes: [],
  params: z.object({ redis: target("redis") }),
}).diagnose("look", ({ params }) => ({ redis: params.redis }));

let store: TestStore;
let slack: FakeSlack;
let h: SlackHarness;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
  store = await openTestStore("pglite", "slack_retriage");
  slack = fakeSlackApi();
  h = await startSlack({ db: store.db, playbooks: [idlePing] });
});
afterAll(async () => {
  await h.close();
  slack.done();
  await store.close();
  nock.enableNetConnect();
});

async function openIncident(title: string): Promise<string> {
  const id = newId("inc");
  const now = new Date();
  await store.db.query(
    `INSERT INTO incidents (id, title, status, created_at, updated_at, source, alert_count, last_alert_at) VALUES ($1, $2, 'open', $3, $3, 'alertmanager', 1, $3)`,
    [id, title, now],
  );
  return id;
}

async function reply(text: string, user = "UALICE"): Promise<any> {
  const before = slack.responses.length;
  const res = await h.command(text, user);
  expect(res.status).toBe(200);
  await eventually(() => slack.responses.length > before);
  return slack.responses[before]!.body;
}

describe("/runbook retriage", () => {
  it("queues another triage of an open incident, audited as the person who asked", async () => {
    const id = await openIncident("RedisTooManyConnections");
    expect((await reply(`retriage ${id}`)).text).toBe(`Triaging \`${id}\` (RedisTooManyConnections) again; the answer goes to its thread.`);
    const jobs = (await store.db.query<{ kind: string; status: string; dedupe_key: string }>(`SELECT kind, status, dedupe_key FROM incident_jobs WHERE incident_id = $1`, [id])).rows;
    expect(jobs).toEqual([{ kind: "triage", status: "pending", dedupe_key: expect.stringMatching(new RegExp(`^triage:${id}:again:job_`)) }]);
    const events = (await store.db.query<{ kind: string; actor: string }>(`SELECT kind, actor FROM audit_events WHERE incident_id = $1`, [id])).rows;
    expect(events).toEqual([{ kind: "incident.retriage_requested", actor: "UALICE" }]);
  });

  it("says what is wrong with an unknown or resolved incident", async () => {
    expect((await reply("retriage inc_nope")).text).toContain(":warning: no incident inc_nope");
    const id = await openIncident("Old");
    await store.db.query(`UPDATE incidents SET status = 'resolved', resolved_at = now() WHERE id = $1`, [id]);
    expect((await reply(`retriage ${id}`)).text).toContain(`incident ${id} is resolved`);
    expect((await h.command("retriage")).body.text).toContain("Triage which incident again?");
  });
});

describe("asking for the target", () => {
  it("the incident message asks with a button; the form opens prefilled with the reason, and its run belongs to the incident", async () => {
    const incidentId = await openIncident("RedisTooManyConnections");
    const ctx: IncidentContext = {
      incident: { id: incidentId, title: "RedisTooManyConnections", service: null, drill: false, pagerdutyIncidentId: null },
      alerts: [{ title: "RedisTooManyConnections", source: "alertmanager", severity: "warning" }],
      failureMode: "redis-connections",
      reasons: [],
      candidates: [{ playbook: "redis-ping", score: 0.9, reasons: [] }],
      closest: [],
      runId: null,
      targets: [],
      ask: { playbook: "redis-ping", params: {}, issues: [{ field: "redis", message: "the alert matches the labels of 2 redis targets (a, b); say which" }] },
    };
    const msg = renderIncidentMessage(ctx, { ackToken: null });
    expect(JSON.stringify(msg.blocks)).toContain("needs a human");
    const value = buttonValue(msg.blocks as never[], "belay.form.open")!;
    expect(value).toBeDefined();

    const res = await h.click(value, "UALICE", "belay.form.open", { ts: "1700000000.000777" });
    expect(res.status).toBe(200);
    const opened = await eventually(() => slack.of("views.open").at(-1));
    const view = opened!.view;
    expect(JSON.parse(view.private_metadata)).toMatchObject({ playbook: "redis-ping", incident: { id: incidentId }, threadTs: "1700000000.000777" });
    expect(JSON.stringify(view.blocks)).toContain("matches the labels of 2 redis targets");

    const sub = await h.submit({ callback_id: view.callback_id, private_metadata: view.private_metadata, blocks: view.blocks, state: { values: { "param:redis": { value: { type: "plain_text_input", value: "b" } } } } }, "UALICE");
    expect(sub.status).toBe(200);
    const runs = await eventually(async () => {
      const r = (await store.db.query<{ incident_id: string; params: Record<string, unknown> }>(`SELECT incident_id, params FROM runs WHERE playbook_id = 'redis-ping'`)).rows;
      return r.length > 0 ? r : null;
    });
    expect(runs).toEqual([{ incident_id: incidentId, params: { redis: "b" } }]);
  });
});
