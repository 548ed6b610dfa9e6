import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Db, Queryable } from "../../src/store/driver.ts";
import type { Logger } from "../../src/execute/deps.ts";
import { signPagerDuty } from "../../src/ingest/webhook-auth.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { amAlert, amPayload, ZERO_TIME } from "../fixtures/webhooks/alertmanager.ts";
import { AM_TOKEN, PD_API, PD_FROM, PD_OLD_SECRET, PD_SECRET, PD_TOKEN, recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { pdAnnotated, pdIncidentEvent, pdServiceUpdated } from "../fixtures/webhooks/pagerduty.ts";

let store: TestStore;
let h: IngestHarness;
let rec: ReturnType<typeof recordingNotifier>;
const logged: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
const logAt = (level: string) => (obj: object, msg?: string) => void logged.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? "" });
const recordingLogger = { info: logAt("info"), warn: logAt("warn"), error: logAt("error"), debug: logAt("debug") } as unknown as Logger;

beforeAll(async () => {
  store = await openTestStore("pg", "ingest_webhooks");
  rec = recordingNotifier();
  h = await startIngest({ db: store.db, notifier: rec.notifier, logger: recordingLogger });
});
afterAll(async () => {
  await h.close();
  await store.close();
});
afterEach(() => {
  nock.cleanAll();
});

async function q<T = Record<string, any>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await store.db.query<T>(sql, params)).rows;
}

/** PagerDuty's notes endpoint through nock, recording exactly what belay sent. */
function pdNotes(incidentId: string) {
  const sent: { body: any; headers: Record<string, string | string[] | undefined> }[] = [];
  const scope = nock(PD_API)
    .post(`/incidents/${incidentId}/notes`)
    .reply(function (_uri, body) {
      sent.push({ body, headers: this.req.headers });
      return [201, { note: { id: "PWL7QXS", content: (body as any).note.content, created_at: "2026-11-22T03:00:05Z" } }];
    });
  return { sent, scope };
}

describe("POST /webhooks/pagerduty", () => {
  it("stores incident.triggered, answers 202, opens an incident, posts the triage and adds a PagerDuty note", async () => {
    const notes = pdNotes("PTRIG01");
    const r = await h.postPd(pdIncidentEvent("incident.triggered", "PTRIG01"));
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: true, duplicate: false, alerts: 1 });
    const [stored] = await q(`SELECT source, event_type, alerts, meta FROM ingest_deliveries WHERE id = $1`, [r.body.id]);
    expect(stored).toMatchObject({ source: "pagerduty", event_type: "incident.triggered" });
    expect(stored!.alerts[0]).toMatchObject({ source: "pagerduty", fingerprint: "pagerduty:PTRIG01", status: "firing", service: "shop-api", severity: "critical" });

    await h.settle();
    const [inc] = await q(`SELECT * FROM incidents WHERE pagerduty_incident_id = 'PTRIG01'`);
    expect(inc).toMatchObject({ status: "open", source: "pagerduty", service: "shop-api", pagerduty_status: "triggered", slack_channel: "C0INCIDENT" });
    const report = rec.triage.find((t) => t.incident.id === inc!.id)!;
    expect(report.incident.pagerdutyIncidentId).toBe("PTRIG01");
    expect(report.failureMode).toBe("pod-crashloop");
    expect(report.runId).toBeNull(); // no playbooks loaded in this file
    expect(notes.scope.isDone()).toBe(true);
    expect(notes.sent).toHaveLength(1);
    expect(notes.sent[0]!.headers.from).toBe(PD_FROM);
    expect(notes.sent[0]!.headers.authorization).toBe(`Token token=${PD_TOKEN}`);
    expect(notes.sent[0]!.headers.accept).toBe("application/vnd.pagerduty+json;version=2");
    const content: string = notes.sent[0]!.body.note.content;
    expect(Object.keys(notes.sent[0]!.body)).toEqual(["note"]);
    expect(content.split("\n")[0]).toBe("belay triage: failure mode pod-crashloop");
    expect(content).toContain("Approve or discuss in Slack: https://acme.slack.com/archives/C0INCIDENT/");
    const kinds = h.events.filter((e) => e.incidentId === inc!.id).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(["alert.received", "incident.opened", "pagerduty.note_added", "incident.triaged"]));
  });

  it("updates the incident on acknowledged, annotated, escalated, reassigned, priority_updated, without triaging again", async () => {
    pdNotes("PUPD001");
    await h.postPd(pdIncidentEvent("incident.triggered", "PUPD001"));
    await h.settle();
    const before = rec.triage.length;
    for (const p of [
      pdIncidentEvent("incident.acknowledged", "PUPD001"),
      pdAnnotated("PUPD001", "Looking at the api pods"),
      pdIncidentEvent("incident.escalated", "PUPD001"),
      pdIncidentEvent("incident.reassigned", "PUPD001"),
      pdIncidentEvent("incident.priority_updated", "PUPD001", { priority: { id: "P2", summary: "P2", type: "priority_reference" } }),
    ]) {
      expect((await h.postPd(p)).status).toBe(202);
    }
    await h.settle();
    expect(rec.triage.length).toBe(before);
    const [inc] = await q(`SELECT * FROM incidents WHERE pagerduty_incident_id = 'PUPD001'`);
    expect(inc).toMatchObject({ status: "open", pagerduty_status: "acknowledged" });
    const reasons = h.events.filter((e) => e.incidentId === inc!.id && e.kind === "incident.updated").flatMap((e) => e.data.reasons as string[]);
    expect(reasons).toEqual(expect.arrayContaining(["incident.acknowledged", "incident.annotated", "incident.escalated", "incident.reassigned", "incident.priority_updated"]));
    const note = h.events.find((e) => e.incidentId === inc!.id && e.kind === "alert.received" && e.data.eventType === "incident.annotated");
    expect(note!.data.note).toMatchObject({ content: "Looking at the api pods" });
  });

  it("resolves on incident.resolved and reopens the same incident on incident.reopened, triaging it again", async () => {
    pdNotes("PRES001");
    await h.postPd(pdIncidentEvent("incident.triggered", "PRES001"));
    await h.settle();
    expect((await h.postPd(pdIncidentEvent("incident.resolved", "PRES001"))).status).toBe(202);
    await h.settle();
    const [inc] = await q(`SELECT * FROM incidents WHERE pagerduty_incident_id = 'PRES001'`);
    expect(inc).toMatchObject({ status: "resolved", pagerduty_status: "resolved" });
    expect(rec.resolved.filter((r) => r.incident.id === inc!.id)).toHaveLength(1);

    const again = pdNotes("PRES001");
    expect((await h.postPd(pdIncidentEvent("incident.reopened", "PRES001"))).status).toBe(202);
    await h.settle();
    const [reopened] = await q(`SELECT * FROM incidents WHERE pagerduty_incident_id = 'PRES001'`);
    expect(reopened).toMatchObject({ id: inc!.id, status: "open", opened_count: 2 });
    expect(rec.triage.filter((t) => t.incident.id === inc!.id)).toHaveLength(2);
    expect(again.sent).toHaveLength(1);
  });

  it("accepts and ignores other event types (service events) without storing them", async () => {
    const before = (await q(`SELECT count(*)::int AS n FROM ingest_deliveries`))[0]!.n;
    const r = await h.postPd(pdServiceUpdated());
    expect(r).toMatchObject({ status: 202, body: { ignored: true, eventType: "service.updated" } });
    const r2 = await h.postPd(pdIncidentEvent("incident.responder.added", "PIGN001"));
    expect(r2.body.ignored).toBe(true);
    expect((await q(`SELECT count(*)::int AS n FROM ingest_deliveries`))[0]!.n).toBe(before);
  });

  it("stores a retried delivery (same X-Webhook-Id) once, keyed on the signed event id", async () => {
    const payload = pdIncidentEvent("incident.acknowledged", "PREPLAY");
    const a = await h.postPd(payload, { webhookId: "replay-1" });
    const b = await h.postPd(payload, { webhookId: "replay-1" });
    expect(a).toMatchObject({ status: 202, body: { duplicate: false } });
    expect(b).toMatchObject({ status: 202, body: { duplicate: true } });
    expect(await q(`SELECT id FROM ingest_deliveries WHERE delivery_key = $1`, [`event:${payload.event.id}`])).toHaveLength(1);
  });

  it("a signed delivery re-posted under a new X-Webhook-Id does nothing: a replayed incident.resolved leaves the reopened incident open", async () => {
    pdNotes("PRPLY02");
    await h.postPd(pdIncidentEvent("incident.triggered", "PRPLY02"));
    await h.settle();
    const resolved = pdIncidentEvent("incident.resolved", "PRPLY02");
    expect((await h.postPd(resolved, { webhookId: "wh-original" })).body.duplicate).toBe(false);
    await h.settle();
    pdNotes("PRPLY02");
    await h.postPd(pdIncidentEvent("incident.reopened", "PRPLY02"));
    await h.settle();
    const stored = (await q(`SELECT count(*)::int AS n FROM ingest_deliveries`))[0]!.n;
    // The attacker (or a confused proxy) replays the captured, validly signed resolve.
    for (const id of ["wh-replay-a", "wh-replay-b"]) {
      expect(await h.postPd(resolved, { webhookId: id })).toMatchObject({ status: 202, body: { accepted: true, duplicate: true } });
    }
    await h.settle();
    expect((await q(`SELECT count(*)::int AS n FROM ingest_deliveries`))[0]!.n).toBe(stored);
    const [inc] = await q(`SELECT * FROM incidents WHERE pagerduty_incident_id = 'PRPLY02'`);
    expect(inc).toMatchObject({ status: "open", opened_count: 2 });
    expect(rec.resolved.filter((r) => r.incident.id === inc!.id)).toHaveLength(1);
  });

  it("acknowledges a delivery that occurred longer ago than the window, ignores it, logs and counts it", async () => {
    const before = (await q(`SELECT count(*)::int AS n FROM ingest_deliveries`))[0]!.n;
    const old = pdIncidentEvent("incident.resolved", "PSTALE1", {});
    old.event.occurred_at = "2020-03-01T10:00:00.000Z";
    const r = await h.postPd(old);
    expect(r).toMatchObject({ status: 202, body: { accepted: true, ignored: true, reason: "stale" } });
    const late = pdIncidentEvent("incident.triggered", "PSTALE1");
    late.event.occurred_at = new Date(Date.now() - 61 * 60_000).toISOString();
    expect((await h.postPd(late)).body).toMatchObject({ ignored: true, reason: "stale" });
    const fresh = pdIncidentEvent("incident.acknowledged", "PSTALE1");
    fresh.event.occurred_at = new Date(Date.now() - 59 * 60_000).toISOString();
    expect((await h.postPd(fresh)).body).toMatchObject({ accepted: true, duplicate: false });
    expect((await q(`SELECT count(*)::int AS n FROM ingest_deliveries`))[0]!.n).toBe(before + 1);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain('belay_webhooks_stale_total{source="pagerduty"} 2');
    expect(logged.some((l) => l.level === "warn" && /stale PagerDuty delivery/.test(l.msg) && l.obj.occurredAt === "2020-03-01T10:00:00.000Z")).toBe(true);
  });

  it("accepts any matching signature while secrets rotate, and refuses bad or missing ones", async () => {
    const raw = JSON.stringify(pdIncidentEvent("incident.acknowledged", "PSIG001"));
    expect((await h.postPd(null, { raw, secrets: [PD_OLD_SECRET, PD_SECRET] })).status).toBe(202);
    expect((await h.postPd(null, { raw, secrets: [PD_SECRET, PD_OLD_SECRET] })).status).toBe(202);
    expect((await h.postPd(null, { raw, secrets: [PD_OLD_SECRET] })).status).toBe(401);
    const headers = { "content-type": "application/json", "x-webhook-id": "sig-x" };
    expect((await h.post("/webhooks/pagerduty", raw, headers)).status).toBe(401);
    expect((await h.post("/webhooks/pagerduty", raw, { ...headers, "x-pagerduty-signature": "v1=zz" })).status).toBe(401);
    expect((await h.post("/webhooks/pagerduty", raw, { ...headers, "x-pagerduty-signature": signPagerDuty(raw, PD_SECRET).replace("v1=", "v0=") })).status).toBe(401);
    // Signed over other bytes: a re-serialised body no longer verifies.
    const other = JSON.stringify(JSON.parse(raw), null, 1);
    const r = await h.post("/webhooks/pagerduty", other, { ...headers, "x-pagerduty-signature": signPagerDuty(raw, PD_SECRET) });
    expect(r).toMatchObject({ status: 401, body: { error: "missing or invalid X-PagerDuty-Signature" } });
  });

  it("answers 415, 413 and 400 (with the reason) for hostile bodies", async () => {
    const sendSigned = (raw: string | Buffer, contentType = "application/json") =>
      h.post("/webhooks/pagerduty", raw, { "content-type": contentType, "x-pagerduty-signature": signPagerDuty(raw, PD_SECRET) });
    expect((await sendSigned(JSON.stringify(pdIncidentEvent("incident.triggered")), "text/plain")).status).toBe(415);
    expect((await sendSigned(Buffer.alloc(300 * 1024, 0x20))).status).toBe(413);
    const invalid = await sendSigned('{"event": {');
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatch(/^invalid JSON/);
    const deep = await sendSigned(`${"[".repeat(5000)}${"]".repeat(5000)}`);
    expect(deep).toMatchObject({ status: 400, body: { error: "JSON nested deeper than 64 levels" } });
    const wrongTypes = await sendSigned(JSON.stringify(pdIncidentEvent("incident.triggered", "PBAD001", { title: 42 })));
    expect(wrongTypes.status).toBe(400);
    expect(wrongTypes.body.error).toContain("$.event.data.title");
    const noEvent = await sendSigned(JSON.stringify({ messages: [] }));
    expect(noEvent.body.error).toContain("$.event");
    const nul = await sendSigned(JSON.stringify(pdIncidentEvent("incident.triggered", "PNUL001", { title: "a\u0000b" })));
    expect(nul).toMatchObject({ status: 400 });
    expect(nul.body.error).toContain("NUL");
  });

  it("refuses an oversized body sent without Content-Length (chunked) with 413", async () => {
    const big = new ReadableStream({
      start(c) {
        for (let i = 0; i < 40; i++) c.enqueue(new Uint8Array(16 * 1024).fill(0x20));
        c.close();
      },
    });
    const res = await fetch(`${h.url}/webhooks/pagerduty`, { method: "POST", body: big, duplex: "half", headers: { "content-type": "application/json" } } as RequestInit);
    expect(res.status).toBe(413);
  });
});

describe("POST /webhooks/alertmanager", () => {
  it("stores every alert of a group, firing and resolved, keyed on status (zero-time endsAt), and records truncatedAlerts", async () => {
    const payload = amPayload({
      groupKey: '{}/{severity="critical"}:{alertname="KubePodCrashLooping", namespace="shop"}',
      groupLabels: { alertname: "KubePodCrashLooping", namespace: "shop" },
      truncatedAlerts: 7,
      alerts: [
        amAlert({ alertname: "KubePodCrashLooping", labels: { namespace: "shop", pod: "api-7d9c6b5f4-x2x9q", severity: "critical", service: "shop-api" } }),
        amAlert({ alertname: "KubePodCrashLooping", labels: { namespace: "shop", pod: "api-7d9c6b5f4-b7kq2", severity: "critical", service: "shop-api" } }),
        amAlert({ alertname: "KubePodCrashLooping", status: "resolved", labels: { namespace: "shop", pod: "api-7d9c6b5f4-old00", severity: "critical", service: "shop-api" } }),
      ],
    });
    expect(payload.alerts[0]!.endsAt).toBe(ZERO_TIME);
    const r = await h.postAm(payload);
    expect(r).toMatchObject({ status: 202, body: { accepted: true, alerts: 3 } });
    await h.settle();
    const rows = await q(`SELECT a.status, a.incident_id, a.alert FROM incident_alerts a WHERE a.alert->>'groupKey' = $1 ORDER BY a.alert->'labels'->>'pod'`, [payload.groupKey]);
    expect(rows.map((x) => [x.alert.labels.pod, x.status])).toEqual([
      ["api-7d9c6b5f4-b7kq2", "firing"],
      ["api-7d9c6b5f4-old00", "resolved"],
      ["api-7d9c6b5f4-x2x9q", "firing"],
    ]);
    expect(new Set(rows.map((x) => x.incident_id)).size).toBe(1);
    expect(rows[0]!.alert.endsAt).toBeNull();
    const incidentId = rows[0]!.incident_id;
    const received = h.events.find((e) => e.kind === "alert.received" && e.incidentId === incidentId)!;
    expect(received.data).toMatchObject({ truncatedAlerts: 7, count: 3, groupKey: payload.groupKey, receiver: "belay\\-webhook" });
    const [inc] = await q(`SELECT * FROM incidents WHERE id = $1`, [incidentId]);
    expect(inc).toMatchObject({ status: "open", alert_count: 3, failure_mode: "pod-crashloop", source: "alertmanager" });

    // The group resolves: every alert resolved, then the incident, once.
    const resolved = amPayload({ ...payload, alerts: payload.alerts.map((a) => ({ ...a, status: "resolved", endsAt: "2026-11-22T03:20:00Z" })) });
    expect((await h.postAm(resolved)).status).toBe(202);
    await h.settle();
    expect((await q(`SELECT status FROM incidents WHERE id = $1`, [incidentId]))[0]!.status).toBe("resolved");
    expect(rec.resolved.filter((x) => x.incident.id === incidentId)).toHaveLength(1);
  });

  it("takes the token as Bearer or as the basic-auth password; anything else is 401", async () => {
    const body = JSON.stringify(amPayload({ alerts: [amAlert({ alertname: "Watchdog", labels: { severity: "none" } })] }));
    const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    const send = (authorization?: string, contentType = "application/json") =>
      h.post("/webhooks/alertmanager", body, { "content-type": contentType, ...(authorization ? { authorization } : {}) });
    expect((await send(`Bearer ${AM_TOKEN}`)).status).toBe(202);
    expect((await send(basic("alertmanager", AM_TOKEN))).status).toBe(202);
    expect((await send(basic(AM_TOKEN, "nope"))).status).toBe(401);
    expect((await send(`Bearer ${AM_TOKEN}x`)).status).toBe(401);
    expect((await send()).status).toBe(401);
    expect((await send(`Bearer ${AM_TOKEN}`, "application/x-www-form-urlencoded")).status).toBe(415);
  });

  it("answers 400 with the reason for malformed payloads", async () => {
    const bad = await h.postAm({ version: "4", groupKey: "{}:{}", status: "firing", receiver: "x", alerts: [{ status: "burning", labels: {} }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("$.alerts[0].status");
    const v3 = await h.postAm({ ...amPayload({ alerts: [] }), version: "3" });
    expect(v3.body.error).toContain("$.version");
    const labels = await h.postAm(amPayload({ alerts: [amAlert({ alertname: "X", labels: { n: 5 as unknown as string } })] }));
    expect(labels.body.error).toContain("$.alerts[0].labels.n");
  });
});

/** A store whose INSERTs fail while `failing` is set: Postgres down in the middle of a storm. */
function flakyDb(db: Db, state: { failing: boolean }): Queryable {
  return {
    query: async (sql, params) => {
      if (state.failing && /^\s*INSERT INTO ingest_deliveries/.test(sql)) throw Object.assign(new Error("connection terminated unexpectedly"), { code: "57P01" });
      return db.query(sql, params);
    },
  } as Queryable;
}

describe("durability", () => {
  it("answers 503 when the delivery cannot be stored, and loses nothing it acknowledged", async () => {
    const state = { failing: false };
    const flaky = await startIngest({ db: store.db, inboxDb: flakyDb(store.db, state) as Db, notifier: recordingNotifier().notifier, pagerduty: null });
    try {
      const acked: string[] = [];
      const refused: number[] = [];
      const send = async (i: number) => {
        const r = await flaky.postAm(amPayload({ groupKey: `{}:{durability="${i}"}`, alerts: [amAlert({ alertname: "DurabilityProbe", labels: { i: String(i) } })] }));
        if (r.status === 202) acked.push(r.body.id);
        else refused.push(r.status);
      };
      // Concurrent within each phase: group commit batches them; the middle phase's store is down.
      await Promise.all(Array.from({ length: 20 }, (_, i) => send(i)));
      state.failing = true;
      await Promise.all(Array.from({ length: 20 }, (_, i) => send(20 + i)));
      state.failing = false;
      await Promise.all(Array.from({ length: 20 }, (_, i) => send(40 + i)));
      expect(refused).toHaveLength(20);
      expect(refused.length).toBeGreaterThan(0);
      expect(new Set(refused)).toEqual(new Set([503]));
      expect(acked.length + refused.length).toBe(60);
      const stored = await q<{ id: string }>(`SELECT id FROM ingest_deliveries WHERE id = ANY($1::text[])`, [acked]);
      expect(stored).toHaveLength(acked.length);
    } finally {
      await flaky.close();
    }
  });

  it("triages after a crash between the 202 and the drain: a new worker finds the stored delivery", async () => {
    await h.ingestion.worker.stop(); // the shared harness's worker must not drain this one first
    const first = recordingNotifier();
    const a = await startIngest({ db: store.db, notifier: first.notifier, pagerduty: null });
    await a.ingestion.worker.stop(); // the worker "dies" before it drains anything
    const payload = amPayload({ groupKey: '{}:{alertname="CrashProbe"}', alerts: [amAlert({ alertname: "KubeDeploymentRolloutStuck", labels: { namespace: "shop", deployment: "api" } })] });
    const r = await a.postAm(payload);
    expect(r.status).toBe(202);
    await a.close();
    expect(first.triage).toHaveLength(0);

    const second = recordingNotifier();
    const b = await startIngest({ db: store.db, notifier: second.notifier, pagerduty: null, startWorker: true });
    try {
      await b.settle();
      const report = second.triage.find((t) => t.alerts.some((x) => x.groupKey === payload.groupKey));
      expect(report).toBeDefined();
      expect(report!.failureMode).toBe("deployment-rollout-stuck");
      expect((await q(`SELECT processed_at FROM ingest_deliveries WHERE id = $1`, [r.body.id]))[0]!.processed_at).not.toBeNull();
    } finally {
      await b.close();
    }
  });
});
