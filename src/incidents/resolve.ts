import { systemPrincipal } from "../identity/principal.ts";
import type { Engine } from "../execute/engine.ts";
import type { Logger } from "../execute/deps.ts";
import type { Db } from "../store/driver.ts";
import type { IncidentNotifier } from "../surfaces.ts";
import type { JobContext, JobOutcome } from "./jobs.ts";
import { getIncident } from "./queries.ts";
import { incidentRunOutcomes } from "./run-outcomes.ts";
import { incidentRef } from "./triage.ts";

export interface ResolveDeps {
  db: Db;
  engine: Pick<Engine, "decide">;
  notifier: IncidentNotifier;
  logger: Logger;
  /**
   * How long to wait before withdrawing proposals of an incident about a target (default 0):
   * an alert whose series vanished because the target became unreachable resolves first, and
   * the related alert (RedisDown) that reopens the incident fires a moment later.
   */
  settleMs?: number;
}

/**
 * After every alert of an incident resolved: belay's own proposals nobody approved are
 * withdrawn (aborted through the engine, so a step in progress finishes and is verified
 * before its run stops), and the thread says so. Runs a human started are left to them.
 * Waits while the incident's triage is still in progress, so it never races a proposal.
 */
export function resolveHandler(deps: ResolveDeps): (ctx: JobContext) => Promise<JobOutcome> {
  return async ({ job, remember }) => {
    const incident = await getIncident(deps.db, job.incidentId);
    if (!incident || incident.status !== "resolved") return { kind: "done" }; // reopened since
    const triaging = await deps.db.query<{ id: string }>(
      `SELECT id FROM incident_jobs WHERE incident_id = $1 AND kind = 'triage' AND status IN ('pending', 'running') LIMIT 1`,
      [incident.id],
    );
    if (triaging.rows.length > 0) return { kind: "later", afterMs: 1_000, reason: "waiting for triage to finish" };
    if ((deps.settleMs ?? 0) > 0 && !job.state.settled) {
      const about = await deps.db.query<{ key: string }>(
        `SELECT key FROM incident_keys WHERE incident_id = $1 AND (key LIKE 'target:%' OR key LIKE 'instance:%') LIMIT 1`,
        [incident.id],
      );
      if (about.rows.length > 0) {
        await remember({ settled: true });
        return { kind: "later", afterMs: deps.settleMs!, reason: "waiting to see whether a related alert about the same target fires" };
      }
    }

    const surface = incident.source === "pagerduty" ? "pagerduty" : "alertmanager";
    const withdrawn = new Set<string>((job.state.withdrawn as string[] | undefined) ?? []);
    const runs = await deps.db.query<{ id: string }>(
      `SELECT id FROM runs WHERE incident_id = $1 AND requested_by = 'belay'
         AND status IN ('pending', 'running', 'waiting', 'awaiting_approval', 'awaiting_decision') ORDER BY created_at`,
      [incident.id],
    );
    for (const { id } of runs.rows) {
      const r = await deps.engine.decide({ kind: "abort", runId: id, actor: systemPrincipal(surface), reason: "all alerts of the incident resolved" });
      if (r.accepted) withdrawn.add(id);
      else deps.logger.warn({ runId: id, code: r.code }, `could not withdraw run: ${r.message}`);
    }
    await remember({ withdrawn: [...withdrawn] });
    if (!job.state.posted) {
      await deps.notifier.postResolved(incidentRef(incident), [...withdrawn], await incidentRunOutcomes(deps.db, incident.id));
      await remember({ posted: true });
    }
    return { kind: "done" };
  };
}
