import { appendAudit } from "../audit/chain.ts";
import type { AuditEvent } from "../audit/events.ts";
import { getIncident } from "../incidents/queries.ts";
import type { Db } from "../store/driver.ts";
import type { PagerDutyClient } from "./client.ts";

export interface AcknowledgeDeps {
  db: Db;
  /** Null when PagerDuty is not configured. */
  client: PagerDutyClient | null;
  clock: () => Date;
  newId: (prefix: string) => string;
  onEvents?: (events: readonly AuditEvent[]) => void;
}

export interface AcknowledgeResult {
  ok: boolean;
  /** What to tell the human who pressed the button. */
  message: string;
  code: "acknowledged" | "not_found" | "not_pagerduty" | "drill" | "not_configured" | "failed";
}

/**
 * Acknowledges the PagerDuty incident behind a belay incident, for the Slack button. Drill
 * incidents never reach PagerDuty. Audited either way (`pagerduty.acknowledged`,
 * `pagerduty.acknowledge_failed`), with the human who asked as the actor.
 *
 * @example
 * const ack = acknowledgeIncident(deps);
 * const r = await ack("inc_k3v9x2m8q1ab", { id: "U024BE7LH", surface: "slack" });
 * await respond(r.message);
 */
export function acknowledgeIncident(deps: AcknowledgeDeps) {
  return async (incidentId: string, actor: { id: string; surface: string }): Promise<AcknowledgeResult> => {
    const incident = await getIncident(deps.db, incidentId);
    if (!incident) return { ok: false, code: "not_found", message: `no incident ${incidentId}` };
    const pd = incident.pagerdutyIncidentId;
    if (!pd) return { ok: false, code: "not_pagerduty", message: `incident ${incidentId} did not come from PagerDuty; there is nothing to acknowledge there` };
    if (incident.drill) return { ok: false, code: "drill", message: `incident ${incidentId} is a drill: PagerDuty is never paged for drills` };
    if (!deps.client) return { ok: false, code: "not_configured", message: "PagerDuty is not configured: set PAGERDUTY_TOKEN and PAGERDUTY_FROM" };
    const r = await deps.client.acknowledge(pd);
    const now = deps.clock();
    const events = await deps.db.transaction(async (tx) => {
      if (r.ok) await tx.query(`UPDATE incidents SET pagerduty_status = 'acknowledged', updated_at = $2 WHERE id = $1`, [incidentId, now]);
      return appendAudit(
        tx,
        [
          {
            kind: r.ok ? "pagerduty.acknowledged" : "pagerduty.acknowledge_failed",
            actor: actor.id,
            surface: actor.surface,
            incidentId,
            data: { pagerdutyIncidentId: pd, status: r.status, ...(r.ok ? {} : { error: r.message }) },
          },
        ],
        { now, newId: () => deps.newId("evt") },
      );
    });
    deps.onEvents?.(events);
    return r.ok
      ? { ok: true, code: "acknowledged", message: `PagerDuty incident ${pd} acknowledged by ${actor.id}` }
      : { ok: false, code: "failed", message: `PagerDuty did not acknowledge ${pd}: ${r.message}` };
  };
}
