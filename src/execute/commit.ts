import { appendAudit } from "../audit/chain.ts";
import type { AuditEvent, AuditInput } from "../audit/events.ts";
import { BelayError } from "../errors.ts";
import type { Queryable } from "../store/driver.ts";
import { lockRun, type RunRecord } from "../store/runs.ts";
import type { EngineDeps } from "./deps.ts";

/**
 * Every change to a run is one transaction: lock the run row, check who may change it,
 * write the state, append the audit events. State and audit commit together or not at all.
 *
 * With `lease`, the change is refused unless this process still holds the run's lease, so
 * a process that lost its lease (it stalled and another took over) never writes over the
 * new owner.
 */
export async function commitRun<T = void>(
  deps: EngineDeps,
  runId: string,
  opts: { lease: boolean },
  fn: (tx: Queryable, run: RunRecord, now: Date) => Promise<{ events: AuditInput[]; value?: T }>,
): Promise<T> {
  let committed: AuditEvent[] = [];
  const value = await deps.db.transaction(async (tx) => {
    const run = await lockRun(tx, runId);
    if (!run) throw new BelayError("run.not_found", `no run ${runId}; list runs with \`belay runs\` or /runbook history`);
    if (opts.lease && (run.leaseOwner !== deps.owner || run.status !== "running")) {
      throw new BelayError("lease.lost", `run ${runId} is no longer leased to ${deps.owner} (owner ${run.leaseOwner}, status ${run.status})`);
    }
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
