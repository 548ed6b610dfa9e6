import { eventsForRun } from "../audit/chain.ts";
import { runOutcome, type RunOutcome } from "../execute/outcome.ts";
import type { Queryable } from "../store/driver.ts";
import { getSteps, listRuns } from "../store/runs.ts";

/** A run of an incident and what it did, as the incident's surfaces report it. */
export interface IncidentRunOutcome {
  runId: string;
  playbookId: string;
  requestedBy: string;
  outcome: RunOutcome;
}

/**
 * Every run linked to the incident (proposed by triage, or started by a person with
 * `incident=`), oldest first, with its outcome: the resolution note and the watch after a
 * fix name the run that fixed it, and never count "nothing needed" as a fix.
 */
export async function incidentRunOutcomes(db: Queryable, incidentId: string, limit = 20): Promise<IncidentRunOutcome[]> {
  const runs = (await listRuns(db, { limit, incidentId })).reverse();
  const out: IncidentRunOutcome[] = [];
  for (const run of runs) {
    const [steps, events] = await Promise.all([getSteps(db, run.id), eventsForRun(db, run.id)]);
    out.push({ runId: run.id, playbookId: run.playbookId, requestedBy: run.requestedBy, outcome: runOutcome(run, steps, events) });
  }
  return out;
}
