import { eventsForIncident } from "../audit/chain.ts";
import type { AuditEvent } from "../audit/events.ts";
import type { Queryable } from "../store/driver.ts";

/** What belay did about a drill's alert so far, read from the store and the audit trail. */
export interface Observation {
  incidentId: string | null;
  incidentOpenedAt: Date | null;
  triagedAt: Date | null;
  /** Closest failure modes the triage named (when no playbook fit). */
  failureMode: string | null;
  run: { id: string; playbookId: string; status: string; proposedAt: Date } | null;
  /** The first thing a human did: an approval, a refusal, an acknowledgement, an abort. */
  ackAt: Date | null;
  ackBy: string | null;
  approvedAt: Date | null;
  approvedBy: string[];
  events: AuditEvent[];
}

const HUMAN_KINDS = new Set(["step.approved", "step.denied", "approval.refused", "step.skipped", "step.decided", "run.aborted", "run.abort_requested", "pagerduty.acknowledged"]);

/** `actor` is a human unless it is belay itself (or a drill acting as belay). */
const isHuman = (e: AuditEvent) => e.actor !== "belay" && !e.actor.startsWith("belay-") && HUMAN_KINDS.has(e.kind);

/**
 * `since`: only what happened from then on counts (a real alert may reopen an earlier
 * incident, whose old proposal and approvals are not the drill's).
 */
export async function observe(db: Queryable, fingerprint: string, since: Date | null = null): Promise<Observation> {
  const none: Observation = { incidentId: null, incidentOpenedAt: null, triagedAt: null, failureMode: null, run: null, ackAt: null, ackBy: null, approvedAt: null, approvedBy: [], events: [] };
  const inc = await db.query<{ incident_id: string | null }>(`SELECT incident_id FROM incident_alerts WHERE source = 'alertmanager' AND fingerprint = $1 ORDER BY last_seen_at DESC LIMIT 1`, [fingerprint]);
  const incidentId = inc.rows[0]?.incident_id ?? null;
  if (!incidentId) return none;
  const all = await eventsForIncident(db, incidentId);
  const events = since ? all.filter((e) => e.kind === "incident.opened" || new Date(e.at) >= since) : all;
  const at = (e: AuditEvent | undefined) => (e ? new Date(e.at) : null);
  const opened = events.find((e) => e.kind === "incident.opened");
  const triaged = events.find((e) => e.kind === "incident.triaged");
  const proposed = events.find((e) => e.kind === "run.proposed");
  let run: Observation["run"] = null;
  if (proposed?.runId) {
    const r = await db.query<{ status: string }>(`SELECT status FROM runs WHERE id = $1`, [proposed.runId]);
    run = { id: proposed.runId, playbookId: String(proposed.data.playbook), status: r.rows[0]?.status ?? "unknown", proposedAt: new Date(proposed.at) };
  }
  const ack = events.find(isHuman);
  const approved = events.find((e) => e.kind === "step.approved" && e.data.satisfied === true);
  return {
    incidentId,
    incidentOpenedAt: at(opened),
    triagedAt: at(triaged),
    failureMode: (opened?.data.failureMode as string | null | undefined) ?? null,
    run,
    ackAt: at(ack),
    ackBy: ack?.actor ?? null,
    approvedAt: at(approved),
    approvedBy: approved ? ((approved.data.approvers as { id?: string }[] | string[] | undefined) ?? []).map((a) => (typeof a === "string" ? a : String(a.id))) : [],
    events,
  };
}

/** A real (not drill-labelled) alert that reached belay's Alertmanager webhook during a drill. */
export interface RealAlert {
  fingerprint: string;
  incidentId: string | null;
  alertname: string;
  labels: Record<string, string>;
  /** Alertmanager's startsAt: when the team's monitoring says it began firing. */
  startsAt: Date | null;
  /** When belay first received it. */
  receivedAt: Date;
}

/**
 * The first real Alertmanager alert named one of `alertnames` that began firing at or after
 * `since`, whose labels pass `matches` (the drill's target). Drill-labelled alerts never count.
 * "Began" is belay's first receipt, or, for an alert whose row predates the drill (a
 * recurring alert that reopened an incident keeps its first_seen_at), Alertmanager's startsAt
 * of this firing; its receipt is then the row's latest (the first poll that sees it).
 */
export async function findRealAlert(db: Queryable, opts: { alertnames: readonly string[]; since: Date; matches: (labels: Readonly<Record<string, string>>) => boolean }): Promise<RealAlert | null> {
  // A plain read: the drill polls, nothing here is locked or written.
  const r = await db.query<{ fingerprint: string; incident_id: string | null; alert: { labels?: Record<string, string>; startsAt?: string | null; drill?: boolean } | string; first_seen_at: Date | string; last_seen_at: Date | string }>(
    `SELECT fingerprint, incident_id, alert, first_seen_at, last_seen_at FROM incident_alerts
      WHERE source = 'alertmanager' AND status = 'firing' AND last_seen_at >= $1 AND alert->'labels'->>'alertname' = ANY($2::text[])
      ORDER BY first_seen_at ASC LIMIT 200`,
    [opts.since, [...opts.alertnames]],
  );
  const at = (v: Date | string) => (v instanceof Date ? v : new Date(v));
  for (const row of r.rows) {
    const alert = typeof row.alert === "string" ? (JSON.parse(row.alert) as Exclude<typeof row.alert, string>) : row.alert;
    const labels = alert.labels ?? {};
    if (alert.drill || labels.belay_drill !== undefined || labels.drill === "true") continue;
    if (!opts.matches(labels)) continue;
    const parsed = alert.startsAt ? new Date(alert.startsAt) : null;
    const startsAt = parsed && !Number.isNaN(parsed.getTime()) && parsed.getTime() > 0 ? parsed : null;
    const first = at(row.first_seen_at);
    const fresh = first >= opts.since;
    // Firing since before the drill: not the drill's detection.
    if (!fresh && !(startsAt && startsAt >= opts.since)) continue;
    return { fingerprint: row.fingerprint, incidentId: row.incident_id, alertname: labels.alertname ?? "", labels, startsAt, receivedAt: fresh ? first : at(row.last_seen_at) };
  }
  return null;
}
