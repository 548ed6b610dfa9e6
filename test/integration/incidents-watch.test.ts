import { afterAll, beforeAll, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/events.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import type { IncidentNotifier } from "../../src/surfaces.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { personAt, testEngine } from "../helpers/engine.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

// A fix that verifies (the setting took) while the alert it answers keeps firing.
const state = { policy: "noeviction" };
const setPolicy = playbook({ id: "set-policy", title: "Evict instead", summary: "Switches the policy.", failureModes: ["redis-maxmemory"], match: [{ alertname: "TestMemoryFull" }], params: z.object({}) })
  .diagnose("policy", () => ({ policy: state.policy }))
  .act("switch", {
    risk: "low",
    permissions: ["redis:CONFIG"],
    locks: { none: "a test step: it changes nothing another run could change" },
    when: { if: ({ outputs }) => outputs.policy.policy !== "allkeys-lru", reason: "the policy is already allkeys-lru" },
    preview: () => "noeviction -> allkeys-lru",
    run: () => {
      state.policy = "allkeys-lru";
      return {};
    },
    verify: () => ({ ok: state.policy === "allkeys-lru", detail: "maxmemory-policy allkeys-lru" }),
    rollback: () => {
      state.policy = "noeviction";
    },
  });

let store: TestStore;
let h: IngestHarness;
const rec = recordingNotifier();
const notes: { incident: string; text: string }[] = [];
const notifier: IncidentNotifier = { ...rec.notifier, postNote: async (incident, text) => void notes.push({ incident: incident.id, text }) };

beforeAll(async () => {
  store = await openTestStore("pg", "incidents_watch");
  let sink: (e: readonly AuditEvent[]) => void = () => {};
  const { engine } = testEngine({ db: store.db, playbooks: [setPolicy], extra: { onEvents: (e) => sink(e) } });
  h = await startIngest({ db: store.db, engine, playbooks: [setPolicy], notifier, pagerduty: null, startWorker: true, extra: { watchAfterFixMs: 300 } });
  sink = (e) => h.ingestion.onEvents(e);
});
afterAll(async () => {
  await h?.close();
  await store?.close();
});

async function until(check: () => boolean | Promise<boolean>, ms = 8_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

it("after a verified fix, alerts still firing N minutes later are named in the incident's thread", async () => {
  await h.postAm(amPayload({ groupKey: '{}:{alertname="TestMemoryFull"}', alerts: [amAlert({ alertname: "TestMemoryFull", labels: { instance: "cache:9121", severity: "critical" } })] }));
  await h.settle();
  const report = rec.triage.find((r) => r.incident.title.includes("TestMemoryFull"))!;
  const runId = report.runId!;
  const view = await h.engine.view(runId);
  expect(view.run.status).toBe("awaiting_approval");
  expect((await h.engine.decide({ kind: "approve", runId, step: "switch", actor: personAt("bob"), planHash: view.run.planHash })).accepted).toBe(true);
  expect((await h.engine.drive(runId)).run.status).toBe("succeeded");

  await until(() => notes.length > 0);
  expect(notes[0]!.incident).toBe(report.incident.id);
  expect(notes[0]!.text).toMatch(new RegExp(`^:eyes: 0 s after run \`${runId}\` \\(\`set-policy\`\\) changed and verified its fix, 1 alert of this incident still fires:\\n• TestMemoryFull`));
  const still = async () => (await store.db.query<{ data: { firing: number } }>(`SELECT data FROM audit_events WHERE incident_id = $1 AND kind = 'incident.still_firing'`, [report.incident.id])).rows;
  await until(async () => (await still()).length > 0);
  expect(await still()).toHaveLength(1);
});

it("a run that changed nothing (nothing needed) is not watched as a fix", async () => {
  const before = notes.length;
  // The policy is already allkeys-lru: the switch is skipped, the run succeeds with nothing changed.
  await h.postAm(amPayload({ groupKey: '{}:{alertname="TestMemoryFull",instance="other"}', alerts: [amAlert({ alertname: "TestMemoryFull", labels: { instance: "other:9121", severity: "critical", service: "other" } })] }));
  await h.settle();
  const report = rec.triage.filter((r) => r.incident.title.includes("TestMemoryFull")).at(-1)!;
  expect((await h.engine.view(report.runId!)).run.status).toBe("succeeded");
  await new Promise((r) => setTimeout(r, 900));
  await h.settle();
  expect(notes.length).toBe(before);
});
