import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { playbook, z } from "../../src/sdk/index.ts";
import { readPagerDutyDelivery } from "../../src/ingest/pagerduty-webhook.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { alice } from "../helpers/engine.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { PD_API, recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { pdIncidentEvent } from "../fixtures/webhooks/pagerduty.ts";

/** What the act step of the test playbook touches: a gate holds it mid-step. */
const svc = { ran: 0, verified: 0, gate: null as Promise<void> | null };

const queueRestart = playbook({
  id: "queue-restart",
  title: "Restart a stalled queue consumer",
  summary: "Reads the queue depth, then restarts the consumer.",
  failureModes: ["thread-starvation"],
  match: [{ alertname: "TestQueueStalled" }],
  params: z.object({ queue: z.string().min(1) }),
  fromAlert: (a) => ({ queue: a.labels.queue }),
})
  .diagnose("depth", ({ params }) => ({ queue: params.queue, depth: 42 }))
  .act("restart", {
    risk: "low",
    permissions: ["queue:restart"],
    locks: { none: "a test step: it changes nothing another run could change" },
    preview: ({ params }) => `restart the ${params.queue} consumer`,
    run: async () => {
      svc.ran++;
      if (svc.gate) await svc.gate;
      return { restarted: true };
    },
    verify: () => {
      svc.verified++;
      return true;
    },
    irreversible: "a restart of an idle consumer has nothing to undo",
  });

let store: TestStore;
let h: IngestHarness;
let rec: ReturnType<typeof recordingNotifier>;

beforeAll(async () => {
  store = await openTestStore("pg", "incidents");
  rec = recordingNotifier();
  h = await startIngest({ db: store.db, notifier: rec.notifier, playbooks: [queueRestart], startWorker: true, startEngine: true });
});
afterAll(async () => {
  await h.close();
  await store.close();
  nock.cleanAll();
});

async function q<T = Record<string, any>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await store.db.query<T>(sql, params)).rows;
}

const stalled = (queue: string, extra: Record<string, string> = {}) =>
  amAlert({ alertname: "TestQueueStalled", labels: { queue, service: `worker-${queue}`, severity: "critical", ...extra }, annotations: { summary: `queue ${queue} stalled` } });

describe("storm control", () => {
  it("turns 2,000 Alertmanager alerts in 10 groups into 10 incidents, 10 triage posts and no PagerDuty calls", async () => {
    const before = rec.triage.length;
    const pd = nock(PD_API).post(/.*/).reply(500).persist();
    const requests: Promise<{ status: number }>[] = [];
    let inFlight: Promise<unknown>[] = [];
    for (let r = 0; r < 200; r++) {
      const g = r % 10;
      const alerts = Array.from({ length: 10 }, (_, k) => amAlert({ alertname: "KubeHpaMaxedOut", labels: { hpa: `hpa-${g}`, replica: `${r}-${k}`, namespace: `storm${g}` } }));
      const p = h.postAm(amPayload({ groupKey: `{}:{alertname="KubeHpaMaxedOut",namespace="storm${g}"}`, groupLabels: { alertname: "KubeHpaMaxedOut", namespace: `storm${g}` }, alerts }));
      requests.push(p);
      inFlight.push(p);
      if (inFlight.length >= 20) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    const answers = await Promise.all(requests);
    expect(answers.every((a) => a.status === 202)).toBe(true);
    await h.settle();
    const incidents = await q(`SELECT id, alert_count FROM incidents WHERE title LIKE 'KubeHpaMaxedOut%'`);
    expect(incidents).toHaveLength(10);
    expect(incidents.map((i) => i.alert_count)).toEqual(Array(10).fill(200));
    expect(rec.triage.length - before).toBe(10);
    expect(pd.isDone()).toBe(false); // not one PagerDuty call for Alertmanager incidents
    const counted = await q<{ n: number }>(`SELECT count(*)::int AS n FROM incident_alerts WHERE alert->'labels'->>'alertname' = 'KubeHpaMaxedOut'`);
    expect(counted[0]!.n).toBe(2000);
    nock.cleanAll();
  });

  it("deduplicates a re-sent alert by fingerprint", async () => {
    const payload = amPayload({ groupKey: '{}:{alertname="TestQueueStalled",queue="dedup"}', alerts: [stalled("dedup")] });
    for (let i = 0; i < 5; i++) expect((await h.postAm(payload)).status).toBe(202);
    await h.settle();
    const rows = await q(`SELECT incident_id, received FROM incident_alerts WHERE fingerprint = $1`, [payload.alerts[0]!.fingerprint]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.received).toBe(5);
    expect(rec.triage.filter((t) => t.incident.id === rows[0]!.incident_id)).toHaveLength(1);
    expect(await q(`SELECT id FROM runs WHERE incident_id = $1`, [rows[0]!.incident_id])).toHaveLength(1);
  });

  it("groups alerts naming the same service and failure mode within the window, and not outside it", async () => {
    const a = amPayload({ groupKey: '{}:{alertname="TestQueueStalled",shard="a"}', alerts: [stalled("window", { shard: "a" })] });
    const b = amPayload({ groupKey: '{}:{alertname="TestQueueStalled",shard="b"}', alerts: [stalled("window", { shard: "b" })] });
    await h.postAm(a);
    await h.settle();
    await h.postAm(b);
    await h.settle();
    const ids = await q(`SELECT DISTINCT incident_id FROM incident_alerts WHERE alert->'labels'->>'queue' = 'window'`);
    expect(ids).toHaveLength(1);
    // An hour later the window has passed: a new group on the same service is a new incident.
    await store.db.query(`UPDATE incidents SET last_alert_at = now() - interval '1 hour' WHERE id = $1`, [ids[0]!.incident_id]);
    await h.postAm(amPayload({ groupKey: '{}:{alertname="TestQueueStalled",shard="c"}', alerts: [stalled("window", { shard: "c" })] }));
    await h.settle();
    expect(await q(`SELECT DISTINCT incident_id FROM incident_alerts WHERE alert->'labels'->>'queue' = 'window'`)).toHaveLength(2);
  });

  it("keeps at most one active run per playbook per incident, even when triage runs again", async () => {
    await h.postAm(amPayload({ groupKey: '{}:{alertname="TestQueueStalled",queue="once"}', alerts: [stalled("once")] }));
    await h.settle();
    const incident_id = (await q(`SELECT incident_id FROM incident_alerts WHERE alert->'labels'->>'queue' = 'once'`))[0]!.incident_id;
    await store.db.query(
      `INSERT INTO incident_jobs (id, incident_id, kind, dedupe_key, status, next_at, created_at, updated_at) VALUES ('job_again', $1, 'triage', 'triage:again', 'pending', now(), now(), now())`,
      [incident_id],
    );
    h.ingestion.worker.kick();
    await h.settle();
    expect(await q(`SELECT id FROM runs WHERE incident_id = $1`, [incident_id])).toHaveLength(1);
    const reports = rec.triage.filter((t) => t.incident.id === incident_id);
    expect(reports).toHaveLength(2);
    expect(reports[1]!.runId).toBe(reports[0]!.runId);
  });
});

describe("resolution", () => {
  it("withdraws belay's unapproved proposal when every alert resolves, and says so once", async () => {
    const payload = amPayload({ groupKey: '{}:{alertname="TestQueueStalled",queue="withdraw"}', alerts: [stalled("withdraw"), stalled("withdraw", { shard: "2" })] });
    await h.postAm(payload);
    await h.settle();
    const report = rec.triage.find((t) => t.alerts.some((a) => a.labels.queue === "withdraw"))!;
    expect(report.runId).not.toBeNull();
    expect((await h.engine.view(report.runId!)).run.status).toBe("awaiting_approval");
    expect((await h.engine.view(report.runId!)).steps.map((s) => [s.name, s.status])).toEqual([["depth", "succeeded"], ["restart", "awaiting_approval"]]);

    // One alert resolves: still open, nothing withdrawn.
    await h.postAm(amPayload({ ...payload, alerts: [{ ...payload.alerts[0]!, status: "resolved" }, payload.alerts[1]!] }));
    await h.settle();
    expect((await q(`SELECT status FROM incidents WHERE id = $1`, [report.incident.id]))[0]!.status).toBe("open");
    // The other resolves too.
    await h.postAm(amPayload({ ...payload, alerts: payload.alerts.map((a) => ({ ...a, status: "resolved" as const })) }));
    await h.settle();
    expect((await q(`SELECT status FROM incidents WHERE id = $1`, [report.incident.id]))[0]!.status).toBe("resolved");
    const view = await h.engine.view(report.runId!);
    expect(view.run.status).toBe("aborted");
    expect(rec.resolved.filter((r) => r.incident.id === report.incident.id)).toEqual([{ incident: report.incident, withdrawn: [report.runId] }]);
    const aborted = h.events.find((e) => e.kind === "run.aborted" && e.runId === report.runId)!;
    expect(aborted).toMatchObject({ actor: "belay", surface: "alertmanager" });
  });

  it("lets a running act step finish and be verified before the withdrawn run stops", async () => {
    let release!: () => void;
    svc.gate = new Promise<void>((r) => (release = r));
    const payload = amPayload({ groupKey: '{}:{alertname="TestQueueStalled",queue="running"}', alerts: [stalled("running")] });
    await h.postAm(payload);
    await h.settle();
    const report = rec.triage.find((t) => t.alerts.some((a) => a.labels.queue === "running"))!;
    const plan = await h.engine.view(report.runId!);
    const ranBefore = svc.ran;
    expect((await h.engine.decide({ kind: "approve", runId: report.runId!, step: "restart", actor: alice, planHash: plan.run.planHash })).accepted).toBe(true);
    for (let i = 0; i < 100 && svc.ran === ranBefore; i++) await new Promise((r) => setTimeout(r, 20));
    expect(svc.ran).toBe(ranBefore + 1); // the act step is in progress, held by the gate

    const verifiedBefore = svc.verified;
    await h.postAm(amPayload({ ...payload, alerts: [{ ...payload.alerts[0]!, status: "resolved" }] }));
    await h.settle();
    expect(h.events.some((e) => e.kind === "run.abort_requested" && e.runId === report.runId)).toBe(true);
    release();
    svc.gate = null;
    let view = await h.engine.view(report.runId!);
    for (let i = 0; i < 100 && !h.engine.isTerminal(view.run); i++) {
      await new Promise((r) => setTimeout(r, 20));
      view = await h.engine.view(report.runId!);
    }
    expect(svc.verified).toBe(verifiedBefore + 1);
    expect(view.steps.find((s) => s.name === "restart")!.status).toBe("succeeded");
    expect(view.run.status).toBe("aborted");
    expect(rec.resolved.find((r) => r.incident.id === report.incident.id)!.withdrawn).toEqual([report.runId]);
  });

  it("resolves a PagerDuty incident, and never notes a drill", async () => {
    const notes = nock(PD_API).post("/incidents/PDRILL1/notes").reply(201, {});
    // A game-day drill replays a PagerDuty incident straight into the inbox, flagged as a drill.
    const read = readPagerDutyDelivery(pdIncidentEvent("incident.triggered", "PDRILL1"));
    if (!read.ok || read.value.kind !== "incident") throw new Error("fixture");
    await h.ingestion.inbox.store({
      source: "pagerduty",
      deliveryKey: "drill-1",
      eventType: read.value.eventType,
      alerts: [{ ...read.value.alert!, drill: true }],
      meta: { ...read.value.meta, pagerdutyIncidentId: "PDRILL1" },
    });
    await h.settle();
    const [inc] = await q(`SELECT * FROM incidents WHERE pagerduty_incident_id = 'PDRILL1'`);
    expect(inc!.drill).toBe(true);
    expect(notes.isDone()).toBe(false);
    const triaged = h.events.find((e) => e.kind === "incident.triaged" && e.incidentId === inc!.id)!;
    expect(triaged.data.pagerdutyNote).toMatchObject({ sent: false });
    nock.cleanAll();
  });
});
