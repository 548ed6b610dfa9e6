import { eventsForRun } from "../audit/chain.ts";
import { runOutcome, type RunOutcome } from "../execute/outcome.ts";
import type { Queryable } from "../store/driver.ts";
import { getSteps, listRuns, type RunRecord } from "../store/runs.ts";

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
  const outcomes = await outcomesOfRuns(db, runs);
  return runs.map((run) => ({ runId: run.id, playbookId: run.playbookId, requestedBy: run.requestedBy, outcome: outcomes.get(run.id)! }));
}

/** The outcome of each run given (its steps and audit events read from the store). */
export async function outcomesOfRuns(db: Queryable, runs: readonly RunRecord[]): Promise<Map<string, RunOutcome>> {
  const out = new Map<string, RunOutcome>();
  for (const run of runs) {
    const [steps, events] = await Promise.all([getSteps(db, run.id), eventsForRun(db, run.id)]);
    out.set(run.id, runOutcome(run, steps, events));
  }
  return out;
}
