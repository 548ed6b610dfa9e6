/** Every kind of audit event, `noun.past_tense`. */
export const AUDIT_KINDS = [
  "incident.opened",
  "incident.updated",
  "incident.resolved",
  "alert.received",
  "run.proposed",
  "params.bound",
  "step.previewed",
  "step.awaiting_approval",
  "step.approved",
  "step.denied",
  "approval.refused",
  "approval.expired",
  "step.started",
  "step.executed",
  "step.succeeded",
  "step.failed",
  "step.verified",
  "step.verify_failed",
  "step.rolled_back",
  "step.rollback_failed",
  "step.skipped",
  "step.uncertain",
  "step.decided",
  "step.resumed",
  "lock.waited",
  "run.resumed",
  "run.succeeded",
  "run.failed",
  "run.rolled_back",
  "run.aborted",
  "run.abort_requested",
  "run.previewed",
  "notify.sent",
] as const;

export type AuditKind = (typeof AUDIT_KINDS)[number] | `${string}.${string}`;

export interface AuditInput {
  kind: AuditKind;
  /** Who: a user id, or `belay` for the engine's own decisions. */
  actor: string;
  /** Through which surface: cli, slack, pagerduty, alertmanager, engine, api. */
  surface: string;
  runId?: string | null;
  incidentId?: string | null;
  step?: string | null;
  data?: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  id: string;
  at: string;
  kind: string;
  actor: string;
  surface: string;
  runId: string | null;
  incidentId: string | null;
  step: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = "0".repeat(64);
