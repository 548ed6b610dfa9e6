import { appendAudit } from "../audit/chain.ts";
import type { AuditEvent, AuditInput } from "../audit/events.ts";
import { BelayError } from "../errors.ts";
import type { Queryable } from "../store/driver.ts";
import { lockRun, type RunRecord } from "../store/runs.ts";
import type { EngineDeps } from "./deps.ts";

/** What a commit does: given the run (locked) and the time, the changes it made and the events to audit. */
export type CommitFn<T> = (tx: Queryable, run: RunRecord, now: Date) => Promise<{ events: AuditInput[]; value?: T }>;

/**
 * A human's decision on a run is one transaction: lock the run row, check the decision
 * against it, write the state, append the audit events. State and audit commit together or
 * not at all. (The runner's own commits go through `belay_runner_commit`, in runner.ts.)
 */
export async function commitRun<T = void>(deps: EngineDeps, runId: string, fn: CommitFn<T>): Promise<T> {
  let committed: AuditEvent[] = [];
  const value = await deps.db.transaction(async (tx) => {
    const run = await lockRun(tx, runId);
    if (!run) throw new BelayError("run.not_found", `no run ${runId}; list runs with \`belay runs\` or /runbook history`);
    const now = deps.clock();
    const out = await fn(tx, run, now);
    committed = await appendAudit(
      tx,
      out.events.map((e) => ({ runId, incidentId: run.incidentId, ...e })),
      { now, newId: () => deps.newId("evt") },
    );
    return out.value as T;
  });
  if (committed.length > 0) deps.onEvents?.(committed);
  return value;
}
