import { describe, expect, it } from "vitest";
import { approvalPolicySchema } from "../../src/approve/policy.ts";
import type { AuditEvent } from "../../src/audit/events.ts";
import type { RunView } from "../../src/execute/engine.ts";
import { runOutcome } from "../../src/execute/outcome.ts";
import { formatTriageNote } from "../../src/pagerduty/note.ts";
import type { Alert } from "../../src/sdk/alert.ts";
import { incidentContext, renderIncidentMessage } from "../../src/slack/blocks/incident.ts";
import { renderRunMessage } from "../../src/slack/blocks/run.ts";
import { historyReply, statusReply } from "../../src/slack/blocks/replies.ts";
import type { StepRecord } from "../../src/store/runs.ts";
import type { TriageReport } from "../../src/surfaces.ts";

const now = new Date("2026-11-22T03:00:00Z");
const policy = approvalPolicySchema.parse({});

function step(idx: number, name: string, kind: StepRecord["kind"], status: StepRecord["status"], output: unknown = null): StepRecord {
  return { runId: "run_1", idx, name, kind, risk: kind === "act" ? "medium" : null, permissions: [], status, preview: null, previewData: null, output, error: null, attempts: 1, startedAt: now, finishedAt: now };
}

function view(status: RunView["run"]["status"], steps: StepRecord[], statusReason: string | null = null): RunView {
  return {
    run: { id: "run_1", playbookId: "postgres-terminate-idle-in-transaction", playbookFingerprint: "f", incidentId: "inc_1", requestedBy: "belay", surface: "alertmanager", params: {}, status, statusReason, dryRun: false, planHash: "h".repeat(64), abortRequested: null, leaseOwner: null, leaseExpiresAt: null, nextAt: now, createdAt: now, updatedAt: now },
    steps,
    approvals: [],
    playbook: null,
  };
}

let seq = 0;
function event(kind: string, stepName: string | null, data: Record<string, unknown>): AuditEvent {
  return { seq: ++seq, id: `evt_${seq}`, at: now.toISOString(), kind, actor: "belay", surface: "engine", runId: "run_1", incidentId: "inc_1", step: stepName, data, prevHash: "", hash: "" } as AuditEvent;
}

const skippedRun = view("succeeded", [step(0, "connections", "diagnose", "succeeded", { used: 19, max: 20 }), step(1, "terminate", "act", "skipped"), step(2, "follow-up", "notify", "succeeded")]);
const skippedEvents = [event("step.skipped", "terminate", { reason: "no session has been idle in transaction for 10 min or more (connections 19/20)", by: "condition" })];

function alert(i: number): Alert {
  return { source: "alertmanager", fingerprint: `fp${i}`, status: "firing", title: `PostgresqlTooManyConnections ${i}`, summary: "", description: "", severity: "critical", labels: { alertname: "PostgresqlTooManyConnections" }, annotations: {}, startsAt: now.toISOString(), endsAt: null, generatorUrl: null, raw: {} } as unknown as Alert;
}

function report(alerts: number, listed = 20): TriageReport {
  return {
    incident: { id: "inc_1", title: "PostgresqlTooManyConnections", service: null, drill: false, pagerdutyIncidentId: "PD1" },
    alerts: Array.from({ length: Math.min(alerts, listed) }, (_, i) => alert(i)),
    alertCount: { total: alerts, firing: alerts },
    failureMode: "postgres-connections-exhausted",
    reasons: [],
    candidates: [],
    runId: "run_1",
    closest: [],
  };
}

const text = (m: { blocks: readonly unknown[] }) => JSON.stringify(m.blocks);

describe("a run whose change was not needed is never shown as a green fix", () => {
  it("the run message says 'nothing needed' and which condition said so, without the green check", () => {
    const m = renderRunMessage({ view: skippedRun, events: skippedEvents, context: {}, policy, now, tokens: new Map() });
    const head = JSON.stringify(m.blocks[1]);
    expect(head).not.toContain(":white_check_mark:");
    expect(head).toContain("nothing needed, nothing changed");
    expect(head).toContain("terminate not needed: no session has been idle in transaction for 10 min or more (connections 19/20)");
    expect(m.text).toContain("nothing needed");
  });

  it("a verified change keeps the green check and says 'changed and verified'", () => {
    const v = view("succeeded", [step(0, "set-policy", "act", "succeeded")]);
    const m = renderRunMessage({ view: v, events: [event("step.verified", "set-policy", { detail: "maxmemory-policy allkeys-lru" })], context: {}, policy, now, tokens: new Map() });
    expect(JSON.stringify(m.blocks[1])).toContain(":white_check_mark: *changed and verified*");
  });

  it("the PagerDuty note says what happened, not 'succeeded'", () => {
    const note = formatTriageNote({ report: report(1), view: skippedRun, events: skippedEvents, thread: null });
    expect(note).toContain("Outcome: nothing needed, nothing changed — terminate not needed: no session has been idle in transaction for 10 min or more (connections 19/20)");
    expect(note).not.toMatch(/run run_1, succeeded/);
  });
});

describe("incident root", () => {
  it("counts every alert of a 100-alert incident, not the 20 it lists", () => {
    const m = renderIncidentMessage(incidentContext(report(100)), { ackToken: null });
    expect(text(m)).toContain("*Alerts* (100)");
    expect(text(m)).toContain("…and 95 more");
  });

  it("says what the run did: a failed run is not 'mutating steps wait for approval'", () => {
    const failed = view("failed", [step(0, "connections", "diagnose", "failed")], "step connections failed: connect ECONNREFUSED 127.0.0.1:6399");
    const m = renderIncidentMessage(incidentContext(report(1)), { ackToken: null, run: { id: "run_1", outcome: runOutcome(failed.run, failed.steps, []), waitingOn: null } });
    expect(text(m)).not.toContain("wait for approval");
    expect(text(m)).toContain("Run `run_1` *failed*: step connections failed: connect ECONNREFUSED 127.0.0.1:6399");
  });

  it("says nothing was needed when the run skipped its change, and names the step waiting when one is", () => {
    const m = renderIncidentMessage(incidentContext(report(1)), { ackToken: null, run: { id: "run_1", outcome: runOutcome(skippedRun.run, skippedRun.steps, skippedEvents), waitingOn: null } });
    expect(text(m)).toContain("Run `run_1` *nothing needed, nothing changed*: terminate not needed");
    const waiting = view("awaiting_approval", [step(0, "kill-idle", "act", "awaiting_approval")]);
    const w = renderIncidentMessage(incidentContext(report(1)), { ackToken: null, run: { id: "run_1", outcome: runOutcome(waiting.run, waiting.steps, []), waitingOn: "kill-idle" } });
    expect(text(w)).toContain("diagnostics ran; `kill-idle` waits for approval");
  });
});

describe("step outputs in Slack", () => {
  it("big-keys output is readable lines, never raw JSON cut mid-string", () => {
    const keys = Array.from({ length: 40 }, (_, i) => ({ key: `belay:cache:session:${"x".repeat(30)}:${i}`, type: "string", bytes: 3_000_000 - i }));
    const v = view("awaiting_approval", [step(0, "big-keys", "diagnose", "succeeded", { keys, scanned: 120_000, complete: false }), step(1, "set-policy", "act", "awaiting_approval")]);
    const m = renderRunMessage({ view: v, events: [], context: {}, policy, now, tokens: new Map() });
    const diag = (m.blocks as any[]).find((b) => b.type === "section" && String(b.text.text).startsWith("*big-keys*")).text.text as string;
    expect(diag).not.toContain('{"');
    expect(diag).not.toContain("(truncated)");
    expect(diag).toContain("• key=belay:cache:session:");
    expect(diag).toContain("bytes=2.9 MiB");
    expect(diag).toMatch(/… and 30 more/);
    expect(diag).toContain("complete: false");
  });
});

describe("/runbook status and history", () => {
  it("a run that changed nothing is not listed with a green check", () => {
    const o = runOutcome(skippedRun.run, skippedRun.steps, skippedEvents);
    const history = historyReply([skippedRun.run], "Last 1 runs", new Map([["run_1", o]]));
    expect(JSON.stringify(history.blocks)).not.toContain(":white_check_mark:");
    expect(JSON.stringify(history.blocks)).toContain("nothing needed, nothing changed");
    const status = statusReply(skippedRun, skippedEvents);
    expect(status.text).toBe("Run run_1: nothing needed, nothing changed");
    expect(JSON.stringify(status.blocks)).toContain("terminate not needed: no session has been idle in transaction for 10 min or more (connections 19/20)");
  });
});
