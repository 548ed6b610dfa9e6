import { appendAudit } from "../audit/chain.ts";
import type { AuditEvent } from "../audit/events.ts";
import type { Logger } from "../execute/deps.ts";
import type { Db } from "../store/driver.ts";
import type { IncidentNotifier } from "../surfaces.ts";
import { enqueueJob, type JobContext, type JobOutcome } from "./jobs.ts";
import { alertsOf, countAlerts, getIncident } from "./queries.ts";
import { incidentRunOutcomes } from "./run-outcomes.ts";
import { incidentRef } from "./triage.ts";

/**
 * After a verified fix belay keeps watching: a run of an incident that succeeded schedules a
 * `watch` job some minutes later; if the incident's alerts still fire then, its thread says
 * which. A verified change is not the same as a fixed symptom (allkeys-lru keeps memory near
 * maxmemory, so RedisOutOfConfiguredMaxmemory keeps firing): people should hear it from belay.
 */
export interface WatchDeps {
  db: Db;
  clock: () => Date;
  newId: (prefix: string) => string;
  logger: Logger;
  /** How long after the fix to look (0: never). */
  afterMs: number;
}

/** Committed audit events: each run of an incident that finished `succeeded` schedules one watch. */
export function watchAfterFix(deps: WatchDeps): (events: readonly AuditEvent[]) => void {
  return (events) => {
    if (deps.afterMs <= 0) return;
    const runs = events.filter((e) => e.kind === "run.succeeded" && e.runId && e.incidentId);
    if (runs.length === 0) return;
    const now = deps.clock();
    void (async () => {
      for (const e of runs) {
        // One watch per run (the dedupe key); the handler decides whether the run was a fix.
        await enqueueJob(deps.db, { id: deps.newId("job"), incidentId: e.incidentId!, kind: "watch", dedupeKey: `watch:${e.runId}`, now, at: new Date(now.getTime() + deps.afterMs) });
      }
    })().catch((err) => deps.logger.error({ err }, "scheduling the watch after a fix failed; nobody will be told if the alerts keep firing"));
  };
}

/** What the thread is told: the fix, how long ago, and the alerts that still fire. */
export function stillFiringText(input: { runId: string; playbookId: string; afterMs: number; firing: readonly string[]; total: number }): string {
  const after = input.afterMs < 60_000 ? `${Math.round(input.afterMs / 1000)} s` : `${Math.round(input.afterMs / 60_000)} min`;
  const shown = input.firing.slice(0, 5).map((t) => `• ${t}`);
  const more = input.total > shown.length ? [`…and ${input.total - shown.length} more`] : [];
  return [
    `:eyes: ${after} after run \`${input.runId}\` (\`${input.playbookId}\`) changed and verified its fix, ${input.total} alert${input.total === 1 ? "" : "s"} of this incident still fire${input.total === 1 ? "s" : ""}:`,
    ...shown,
    ...more,
    "The change took, but the symptom the alert measures has not gone: look again before calling it fixed.",
  ].join("\n");
}

export function watchHandler(deps: { db: Db; notifier: IncidentNotifier; clock: () => Date; newId: (prefix: string) => string; afterMs: number; onEvents?: (events: readonly AuditEvent[]) => void }): (ctx: JobContext) => Promise<JobOutcome> {
  return async ({ job, remember }) => {
    if (job.state.posted) return { kind: "done" };
    const incident = await getIncident(deps.db, job.incidentId);
    if (!incident || incident.status === "resolved") return { kind: "done" }; // the alerts stopped: nothing to say
    // The incident's latest fix (nothing needed, failed, rolled back: not a fix to watch).
    const fix = [...(await incidentRunOutcomes(deps.db, incident.id))].reverse().find((r) => r.outcome.fixed);
    if (!fix) return { kind: "done" };
    const count = (await countAlerts(deps.db, [incident.id])).get(incident.id);
    if (!count || count.firing === 0) return { kind: "done" };
    const firing = (await alertsOf(deps.db, incident.id, 20)).filter((a) => a.status === "firing").map((a) => a.alert.title || a.fingerprint);
    const text = stillFiringText({ runId: fix.runId, playbookId: fix.playbookId, afterMs: deps.afterMs, firing, total: count.firing });
    await deps.notifier.postNote?.(incidentRef(incident), text);
    const now = deps.clock();
    const written = await deps.db.transaction((tx) =>
      appendAudit(
        tx,
        [{ kind: "incident.still_firing", actor: "belay", surface: "engine", incidentId: incident.id, runId: fix.runId, data: { firing: count.firing, alerts: firing.slice(0, 10), afterMs: deps.afterMs } }],
        { now, newId: () => deps.newId("evt") },
      ),
    );
    deps.onEvents?.(written);
    await remember({ posted: true });
    return { kind: "done" };
  };
}
