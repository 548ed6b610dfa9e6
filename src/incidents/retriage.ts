import { appendAudit } from "../audit/chain.ts";
import type { AuditEvent } from "../audit/events.ts";
import { BelayError } from "../errors.ts";
import type { Db } from "../store/driver.ts";
import { enqueueRetriage } from "./jobs.ts";
import { getIncident } from "./queries.ts";

/**
 * A human asks belay to match and propose again for an open incident (`/runbook retriage`,
 * `belay retriage`): a triage job is queued and audited; the worker of `belay serve` runs it
 * and answers in the incident's thread.
 */
export async function requestRetriage(
  deps: { db: Db; clock: () => Date; newId: (prefix: string) => string; onEvents?: (events: readonly AuditEvent[]) => void },
  incidentId: string,
  actor: { id: string; surface: string },
): Promise<{ jobId: string; title: string }> {
  const incident = await getIncident(deps.db, incidentId);
  if (!incident) throw new BelayError("input.invalid", `no incident ${incidentId}; the incident thread's root names its id (inc_...)`);
  if (incident.status !== "open") throw new BelayError("input.invalid", `incident ${incidentId} is resolved; a new alert opens or reopens it`);
  const jobId = deps.newId("job");
  const now = deps.clock();
  const events = await deps.db.transaction(async (tx) => {
    await enqueueRetriage(tx, { id: jobId, incidentId, now });
    return appendAudit(tx, [{ kind: "incident.retriage_requested", actor: actor.id, surface: actor.surface, incidentId, data: { reason: "asked by a human", job: jobId } }], {
      now,
      newId: () => deps.newId("evt"),
    });
  });
  deps.onEvents?.(events);
  return { jobId, title: incident.title };
}
