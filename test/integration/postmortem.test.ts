import { afterAll, beforeAll, expect, it } from "vitest";
import { appendAudit, eventsForIncident } from "../../src/audit/chain.ts";
import type { AuditKind } from "../../src/audit/events.ts";
import { toTimeline } from "../../src/audit/timeline.ts";
import { newId } from "../../src/ids.ts";
import { buildPostmortem } from "../../src/postmortem/draft.ts";
import { postmortemMarkdown } from "../../src/postmortem/markdown.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { manualClock, testEngine } from "../helpers/engine.ts";
import { personAt } from "../helpers/engine.ts";

/*
 * A scripted incident: an alert, a proposal, an approval that waits 14 minutes, a change whose
 * verify fails and is rolled back, then the resolution. The draft's timeline must be the
 * incident's audit events, one for one, in order; its action items must follow from them.
 */

let store: TestStore;
beforeAll(async () => {
  store = await openTestStore("pg", "postmortem");
});
afterAll(async () => {
  await store.close();
});

const cacheFix = playbook({
  id: "cache-fix",
  title: "Cache refuses writes",
  summary: "Reads the policy, switches it; verify fails in this script.",
  failureModes: ["redis-maxmemory"],
  params: z.object({}),
})
  .diagnose("read", () => ({ policy: "noeviction" }))
  .act("set-policy", {
    risk: "medium",
    permissions: ["redis:CONFIG"],
    locks: { none: "a test step: it changes nothing another run could change" },
    preview: () => "maxmemory-policy noeviction -> allkeys-lru",
    run: () => ({ previous: "noeviction" }),
    verify: () => ({ ok: false, detail: "maxmemory-policy still noeviction" }),
    rollback: () => undefined,
  });

it("the timeline is the incident's audit events, event by event; action items follow from what happened", async () => {
  const clock = manualClock(new Date("2026-11-22T03:00:00.000Z"));
  const { engine } = testEngine({ db: store.db, playbooks: [cacheFix], clock: clock.now });
  const db = store.db;
  const incidentId = newId("inc");
  const t0 = clock.now();
  await db.query(
    `INSERT INTO incidents (id, title, service, status, created_at, updated_at, source, severity, failure_mode, alert_count, last_alert_at)
     VALUES ($1, 'RedisOutOfConfiguredMaxmemory: OOM command not allowed', 'cache', 'open', $2, $2, 'alertmanager', 'critical', 'redis-maxmemory', 1, $2)`,
    [incidentId, t0],
  );
  await db.query(
    `INSERT INTO incident_alerts (source, fingerprint, incident_id, status, alert, first_seen_at, last_seen_at) VALUES ('alertmanager', 'fp-1', $1, 'firing', $2, $3, $3)`,
    [incidentId, JSON.stringify({ source: "alertmanager", fingerprint: "fp-1", status: "firing", title: "RedisOutOfConfiguredMaxmemory: OOM command not allowed", labels: {}, annotations: {} }), t0],
  );
  const audit = (kind: AuditKind, actor: string, data: Record<string, unknown> = {}) =>
    db.transaction((tx) => appendAudit(tx, [{ kind, actor, surface: "alertmanager", incidentId, data }], { now: clock.now(), newId: () => newId("evt") }));
  await audit("incident.opened", "belay", { failureMode: "redis-maxmemory" });
  await audit("alert.received", "alertmanager", { fingerprint: "fp-1" });

  clock.advance(20_000);
  const { runId } = await engine.propose({ playbookId: "cache-fix", params: {}, requestedBy: "belay", surface: "alertmanager", incidentId });
  await engine.drive(runId);
  clock.advance(14 * 60_000); // the approval waits 14 minutes
  const view = await engine.view(runId);
  expect((await engine.decide({ kind: "approve", runId, step: "set-policy", actor: personAt("bob"), planHash: view.run.planHash })).accepted).toBe(true);
  clock.advance(5_000);
  expect((await engine.drive(runId)).run.status).toBe("rolled_back");
  clock.advance(60_000);
  await db.query(`UPDATE incidents SET status = 'resolved', resolved_at = $2 WHERE id = $1`, [incidentId, clock.now()]);
  await audit("incident.resolved", "belay", { detail: "all alerts resolved" });

  const events = await eventsForIncident(db, incidentId);
  const draft = await buildPostmortem(db, incidentId, clock.now);

  // Event by event: same order, same time, actor, kind, step, and the same words.
  const expected = toTimeline(events);
  expect(draft.timeline).toHaveLength(events.length);
  draft.timeline.forEach((t, i) => {
    const e = events[i]!;
    expect(t).toEqual({ ...expected[i]!, seq: e.seq, minute: e.at.slice(11, 16) });
    expect([t.kind, t.at, t.actor, t.step]).toEqual([e.kind, e.at, e.actor, e.step]);
  });
  expect(draft.timeline.map((t) => t.kind)).toEqual([
    "incident.opened",
    "alert.received",
    "run.proposed",
    "params.bound",
    ...events.slice(4, -1).map((e) => e.kind),
    "incident.resolved",
  ]);
  for (const k of ["step.approved", "step.started", "step.verify_failed", "step.rolled_back", "run.rolled_back"]) expect(draft.timeline.map((t) => t.kind)).toContain(k);

  // The chain was verified first, and the draft says so.
  expect(draft.chain).toMatchObject({ verified: true, problem: null });
  expect(draft.chain.events).toBeGreaterThanOrEqual(events.length);
  const md = postmortemMarkdown(draft);
  expect(md).toContain(`> Audit chain verified before this draft was written: ${draft.chain.events} events intact`);

  // Impact: first alert to resolution; detection: the alert, and bob's approval as the first human action.
  expect(draft.impact).toEqual({ start: t0.toISOString(), end: clock.now().toISOString(), durationS: (20_000 + 14 * 60_000 + 5_000 + 60_000) / 1000, ongoing: false });
  expect(draft.detection).toMatchObject({ alert: "RedisOutOfConfiguredMaxmemory: OOM command not allowed", acknowledgedBy: "bob", timeToAcknowledgeS: (20_000 + 14 * 60_000) / 1000 });

  // Action items: the 14-minute approval, the failed verify, the rollback, each citing its events.
  expect(draft.actionItems.map((a) => a.kind)).toEqual(["slow_approval", "verify_failed", "rollback"]);
  expect(draft.actionItems[0]!.text).toContain("waited 14 minutes");
  expect(draft.actionItems[1]!.text).toContain("maxmemory-policy still noeviction");
  const approved = events.find((e) => e.kind === "step.approved")!;
  expect(draft.actionItems[0]!.evidence.at(-1)).toEqual({ seq: approved.seq, kind: "step.approved", at: approved.at });
  expect(draft.mitigation.some((m) => m.includes("cache-fix/set-policy: verify FAILED"))).toBe(true);
  expect(md).toContain("- [ ] Approval of cache-fix/set-policy waited 14 minutes");
});

it("an incident no playbook matched gets that action item; a broken chain is said first", async () => {
  const incidentId = newId("inc");
  const now = new Date();
  await store.db.query(
    `INSERT INTO incidents (id, title, status, created_at, updated_at, source, failure_mode) VALUES ($1, 'DependencyUnreachable', 'open', $2, $2, 'alertmanager', NULL)`,
    [incidentId, now],
  );
  await store.db.transaction((tx) =>
    appendAudit(tx, [{ kind: "incident.triaged", actor: "belay", surface: "alertmanager", incidentId, data: { playbook: null, failureMode: null, closest: ["endpoint-down"] } }], { now, newId: () => newId("evt") }),
  );
  const draft = await buildPostmortem(store.db, incidentId);
  expect(draft.actionItems.map((a) => [a.kind, a.text])).toEqual([["no_playbook", "No playbook matched (failure mode not recognised; closest known modes endpoint-down): write a playbook for it, or a match rule for an existing one."]]);
  expect(draft.impact.ongoing).toBe(true);

  // Tampering (the trigger refuses UPDATE, so disable it as an attacker with DDL rights would).
  await store.db.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
  await store.db.query(`UPDATE audit_events SET data = '{"playbook":"forged"}' WHERE incident_id = $1`, [incidentId]);
  const broken = await buildPostmortem(store.db, incidentId);
  expect(broken.chain.verified).toBe(false);
  expect(postmortemMarkdown(broken)).toMatch(/^# .*\n\n> \*\*AUDIT CHAIN BROKEN\*\*/);
});

const notNeeded = playbook({ id: "terminate-nothing", title: "Terminate idle sessions", summary: "Terminates nothing: none is old enough.", failureModes: [], params: z.object({}) })
  .diagnose("idle", () => ({ sessions: 0 }))
  .act("terminate", {
    risk: "medium",
    permissions: ["postgres:pg_signal_backend"],
    locks: { none: "a test step: it changes nothing another run could change" },
    when: { if: ({ outputs }) => outputs.idle.sessions > 0, reason: "no session idle in transaction for 10 min or more" },
    preview: () => "terminate",
    run: () => ({}),
    verify: () => true,
    irreversible: "test",
  });

it("a run that changed nothing is never reported as the fix: the draft says nothing was needed and why", async () => {
  const { engine } = testEngine({ db: store.db, playbooks: [notNeeded] });
  const incidentId = newId("inc");
  const t0 = new Date();
  await store.db.query(`INSERT INTO incidents (id, title, service, status, created_at, updated_at, resolved_at) VALUES ($1, 'PostgresqlTooManyConnections', 'db', 'resolved', $2, $2, $2)`, [incidentId, t0]);
  const { runId } = await engine.propose({ playbookId: "terminate-nothing", params: {}, requestedBy: "belay", surface: "alertmanager", incidentId });
  expect((await engine.drive(runId)).run.status).toBe("succeeded");
  const draft = await buildPostmortem(store.db, incidentId);
  expect(draft.outcomes).toEqual([{ runId, playbook: "terminate-nothing", outcome: "nothing needed, nothing changed", fixed: false, reasons: ["terminate not needed: no session idle in transaction for 10 min or more"] }]);
  expect(draft.summary).toContain("No run changed anything and verified it.");
  expect(draft.mitigation.some((m) => m.endsWith(`run ${runId} (terminate-nothing): nothing needed, nothing changed`))).toBe(true);
  expect(draft.mitigation.some((m) => m.includes("succeeded"))).toBe(false);
  expect(postmortemMarkdown(draft)).toContain(`## Outcome\n\n- run \`${runId}\` (terminate-nothing): nothing needed, nothing changed — terminate not needed: no session idle in transaction for 10 min or more`);
});
