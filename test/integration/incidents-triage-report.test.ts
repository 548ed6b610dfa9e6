import { afterAll, beforeAll, expect, it } from "vitest";
import { playbook, z } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

// A playbook that cannot be proposed from the alert: its required param has no label to come from.
const needsQueue = playbook({
  id: "queue-needs-param",
  title: "Look at a stalled queue",
  summary: "Reads the queue depth.",
  failureModes: ["thread-starvation"],
  match: [{ alertname: "TestQueueNoLabel" }],
  params: z.object({ queue: z.string().min(1) }),
})
  .diagnose("depth", ({ params }) => ({ queue: params.queue, depth: 42 }));

const storm = playbook({
  id: "storm-look",
  title: "Look at a storm",
  summary: "Reads nothing much.",
  failureModes: ["thread-starvation"],
  match: [{ alertname: "TestStorm" }],
  params: z.object({}),
}).diagnose("look", () => ({ ok: true }));

let store: TestStore;
let h: IngestHarness;
const rec = recordingNotifier();

beforeAll(async () => {
  store = await openTestStore("pg", "incidents_triage_report");
  const { engine } = testEngine({ db: store.db, playbooks: [needsQueue, storm] });
  h = await startIngest({ db: store.db, engine, playbooks: [needsQueue, storm], notifier: rec.notifier, pagerduty: null, startWorker: true });
});
afterAll(async () => {
  await h.close();
  await store.close();
});

it("says once why the playbook was not proposed, not twice", async () => {
  await h.postAm(amPayload({ groupKey: '{}:{alertname="TestQueueNoLabel"}', alerts: [amAlert({ alertname: "TestQueueNoLabel", labels: { severity: "critical" } })] }));
  await h.settle();
  const report = rec.triage.find((r) => r.incident.title.includes("TestQueueNoLabel"))!;
  expect(report.runId).toBeNull();
  // Said once: either as "could not propose" or, when the alert cannot fill its params, as "cannot be proposed".
  expect(report.reasons.filter((r) => r.includes("queue-needs-param") && /propose/.test(r))).toHaveLength(1);
  expect(new Set(report.reasons).size).toBe(report.reasons.length);
});

it("a 100-alert incident reports 100 alerts, though it lists only 20", async () => {
  const alerts = Array.from({ length: 100 }, (_, i) => amAlert({ alertname: "TestStorm", labels: { instance: `host-${i}:9100`, severity: "warning" } }));
  expect((await h.postAm(amPayload({ groupKey: '{}:{alertname="TestStorm"}', alerts }))).status).toBe(202);
  await h.settle();
  const report = rec.triage.find((r) => r.incident.title.includes("TestStorm"))!;
  expect(report.alerts.length).toBe(20);
  expect(report.alertCount).toEqual({ total: 100, firing: 100 });
});
