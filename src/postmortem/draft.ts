import { eventsForIncident, verifyChain, type VerifyResult } from "../audit/chain.ts";
import type { AuditEvent } from "../audit/events.ts";
import { toTimeline, type TimelineEntry } from "../audit/timeline.ts";
import { BelayError } from "../errors.ts";
import { alertsOf, getIncident, type AlertRecord, type IncidentRecord } from "../incidents/queries.ts";
import type { Queryable } from "../store/driver.ts";
import { incidentRunOutcomes, type IncidentRunOutcome } from "../incidents/run-outcomes.ts";
import { deriveActionItems, type ActionItem } from "./actions.ts";

export interface PostmortemDraft {
  incident: { id: string; title: string; service: string | null; status: string; drill: boolean; failureMode: string | null; severity: string | null };
  /** The audit chain was verified before this draft was written. */
  chain: { verified: boolean; events: number; headHash: string; problem: string | null; checkedAt: string };
  summary: string;
  impact: { start: string | null; end: string | null; durationS: number | null; ongoing: boolean };
  detection: { alert: string | null; source: string | null; firstAlertAt: string | null; openedAt: string | null; acknowledgedAt: string | null; acknowledgedBy: string | null; timeToAcknowledgeS: number | null };
  alerts: { fingerprint: string; source: string; title: string; status: string; firstSeenAt: string; resolvedAt: string | null }[];
  /** One entry per audit event of the incident and its runs, in chain order. */
  timeline: (TimelineEntry & { seq: number; minute: string })[];
  mitigation: string[];
  /** What each run of the incident did to the system; only `fixed` ones changed something and verified it. */
  outcomes: { runId: string; playbook: string; outcome: string; fixed: boolean; reasons: string[] }[];
  actionItems: ActionItem[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const secs = (a: string | null, b: string | null) => (a && b ? (Date.parse(b) - Date.parse(a)) / 1000 : null);
const HUMAN = new Set(["step.approved", "step.denied", "approval.refused", "step.skipped", "step.decided", "run.aborted", "run.abort_requested", "pagerduty.acknowledged"]);

/** What was done, in order: each run's playbook, its act steps' outcomes, verify results and rollbacks. */
function mitigationOf(events: readonly AuditEvent[], outcomes: ReadonlyMap<string, IncidentRunOutcome>): string[] {
  const out: string[] = [];
  const playbookOf = new Map<string, string>();
  for (const e of events) {
    if (e.kind === "run.proposed" && e.runId) playbookOf.set(e.runId, String(e.data.playbook));
    const pb = e.runId ? (playbookOf.get(e.runId) ?? "?") : "";
    const when = e.at.slice(11, 19);
    const by = (e.data.approvedBy as string[] | undefined)?.join(", ");
    if (e.kind === "step.started" && by) out.push(`${when} ${pb}/${e.step}: started, approved by ${by}`);
    else if (e.kind === "step.verified") out.push(`${when} ${pb}/${e.step}: verified${e.data.detail ? ` (${e.data.detail})` : ""}`);
    else if (e.kind === "step.verify_failed") out.push(`${when} ${pb}/${e.step}: verify FAILED: ${e.data.detail ?? ""}`);
    else if (e.kind === "step.rolled_back") out.push(`${when} ${pb}/${e.step}: rolled back`);
    else if (e.kind === "step.failed") out.push(`${when} ${pb}/${e.step}: failed: ${e.data.error ?? ""}`);
    else if (e.kind === "step.skipped") out.push(`${when} ${pb}/${e.step}: skipped${e.actor !== "belay" ? ` by ${e.actor}` : ""}${e.data.reason ? `: ${e.data.reason}` : ""}`);
    else if (["run.succeeded", "run.failed", "run.rolled_back", "run.aborted"].includes(e.kind)) {
      // The run's outcome, not the engine's status: a run that changed nothing is no fix.
      const o = e.runId ? outcomes.get(e.runId)?.outcome : undefined;
      out.push(`${when} run ${e.runId} (${pb}): ${o ? o.label : e.kind.slice(4).replace("_", " ")}${e.data.reason ? `: ${e.data.reason}` : ""}`);
    }
  }
  return out;
}

/** Assembles the draft from what is already known: pure, given the events, alerts and the chain's verdict. */
export function draftPostmortem(
  incident: IncidentRecord,
  alerts: readonly AlertRecord[],
  events: readonly AuditEvent[],
  chain: VerifyResult,
  checkedAt: Date,
  runOutcomes: readonly IncidentRunOutcome[] = [],
): PostmortemDraft {
  const byRun = new Map(runOutcomes.map((r) => [r.runId, r]));
  const fixes = runOutcomes.filter((r) => r.outcome.fixed);
  // When the trouble began: the sender's startsAt where it is earlier than belay's receipt (delivery can lag by minutes).
  const began = (a: AlertRecord): Date => {
    const s = a.alert.startsAt ? Date.parse(a.alert.startsAt) : NaN;
    return Number.isFinite(s) && s < a.firstSeenAt.getTime() ? new Date(s) : a.firstSeenAt;
  };
  const first = [...alerts].sort((a, b) => began(a).getTime() - began(b).getTime())[0] ?? null;
  const opened = events.find((e) => e.kind === "incident.opened");
  const ack = events.find((e) => HUMAN.has(e.kind) && e.actor !== "belay" && !e.actor.startsWith("belay-"));
  const start = iso(first ? began(first) : null) ?? opened?.at ?? null;
  const end = iso(incident.resolvedAt);
  const timeline = toTimeline(events).map((t, i) => ({ ...t, seq: events[i]!.seq, minute: t.at.slice(11, 16) }));
  const runs = new Set(events.filter((e) => e.kind === "run.proposed").map((e) => String(e.data.playbook)));
  const actionItems = deriveActionItems(incident, events);
  const duration = secs(start, end);
  const summary =
    `${incident.drill ? "DRILL — " : ""}${incident.title}` +
    `${incident.service ? ` on ${incident.service}` : ""}. ` +
    `${alerts.length} alert${alerts.length === 1 ? "" : "s"}; failure mode ${incident.failureMode ?? "not recognised"}; ` +
    (runs.size ? `playbook${runs.size > 1 ? "s" : ""} ${[...runs].join(", ")} proposed. ` : "no playbook proposed. ") +
    (runOutcomes.length === 0 ? "" : fixes.length ? `Fixed by ${fixes.map((f) => `run ${f.runId} (${f.playbookId})`).join(", ")}: changed and verified. ` : "No run changed anything and verified it. ") +
    (end ? `Resolved after ${Math.round((duration ?? 0) / 60)} min.` : "Not resolved yet.");
  return {
    incident: { id: incident.id, title: incident.title, service: incident.service, status: incident.status, drill: incident.drill, failureMode: incident.failureMode, severity: incident.severity },
    chain: { verified: chain.ok, events: chain.events, headHash: chain.headHash, problem: chain.broken?.message ?? null, checkedAt: checkedAt.toISOString() },
    summary,
    impact: { start, end, durationS: duration, ongoing: end === null },
    detection: {
      alert: first ? first.alert.title || first.fingerprint : null,
      source: first?.source ?? incident.source,
      firstAlertAt: iso(first ? began(first) : null),
      openedAt: opened?.at ?? iso(incident.createdAt),
      acknowledgedAt: ack?.at ?? null,
      acknowledgedBy: ack?.actor ?? null,
      timeToAcknowledgeS: secs(start, ack?.at ?? null),
    },
    alerts: alerts.map((a) => ({ fingerprint: a.fingerprint, source: a.source, title: a.alert.title, status: a.status, firstSeenAt: a.firstSeenAt.toISOString(), resolvedAt: iso(a.resolvedAt) })),
    timeline,
    mitigation: mitigationOf(events, byRun),
    outcomes: runOutcomes.map((r) => ({ runId: r.runId, playbook: r.playbookId, outcome: r.outcome.label, fixed: r.outcome.fixed, reasons: [...r.outcome.reasons] })),
    actionItems,
  };
}

/** Verifies the whole audit chain, then drafts the review of one incident from its events and alerts. */
export async function buildPostmortem(db: Queryable, incidentId: string, clock: () => Date = () => new Date()): Promise<PostmortemDraft> {
  const chain = await verifyChain(db);
  const checkedAt = clock();
  const incident = await getIncident(db, incidentId);
  if (!incident) throw new BelayError("input.invalid", `no incident ${incidentId}`);
  const [alerts, events, outcomes] = await Promise.all([alertsOf(db, incidentId, 500), eventsForIncident(db, incidentId), incidentRunOutcomes(db, incidentId, 50)]);
  return draftPostmortem(incident, alerts, events, chain, checkedAt, outcomes);
}
