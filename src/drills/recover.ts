import type { Drill } from "../sdk/drill.ts";
import { drillAlertPayload } from "./alert.ts";
import { drillContext, undoInjections, type DrillDeps } from "./runner.ts";
import { claimOrphanedDrills, setDrillStatus } from "./store.ts";

export interface RecoveredDrill {
  drillRunId: string;
  drillId: string;
  undone: string[];
  failed: { name: string; error: string }[];
}

/**
 * Undoes the injections of drills whose process died (their lease lapsed): what `belay drill
 * run` and `belay serve` do first. Each undo is idempotent, so undoing one that the dead
 * process had already undone in part is harmless. Marks each drill `crashed`.
 */
export async function recoverOrphanedDrills(
  deps: Pick<DrillDeps, "db" | "clock" | "newId" | "owner" | "targets" | "faults" | "logger" | "leaseMs" | "drillTargets"> & { sendAlert?: DrillDeps["sendAlert"] },
  drills: ReadonlyMap<string, Drill>,
): Promise<RecoveredDrill[]> {
  // Orphans are judged on the database's clock: this process's may disagree with the dead one's.
  const claimed = await claimOrphanedDrills(deps.db, deps.owner, deps.leaseMs ?? 15_000);
  const out: RecoveredDrill[] = [];
  for (const r of claimed) {
    const drill = drills.get(r.drillId);
    if (!drill) {
      const pending = r.undo.filter((u) => u.injected && !u.undone).map((u) => u.name);
      await setDrillStatus(deps.db, r.id, "crashed", `its process stopped and drill ${r.drillId} is no longer defined: undo ${pending.join(", ") || "nothing"} by hand`, deps.clock());
      out.push({ drillRunId: r.id, drillId: r.drillId, undone: [], failed: pending.map((name) => ({ name, error: "drill not defined" })) });
      continue;
    }
    const ctx = drillContext(deps, drill, r.id, r.target, new AbortController().signal, "change");
    // The recovering belay undoes on no one's say-so but the drill's own safety rule.
    const undo = await undoInjections(deps.db, drill, ctx, r.undo, { actor: "belay", clock: deps.clock, newId: deps.newId });
    const failed = undo.filter((u) => u.injected && !u.undone).map((u) => ({ name: u.name, error: u.error ?? "not undone" }));
    const reason = failed.length
      ? `its process stopped; undo failed for ${failed.map((f) => `${f.name} (${f.error})`).join(", ")}: fix by hand`
      : "its process stopped mid-drill; the injection was undone by the next belay";
    await setDrillStatus(deps.db, r.id, "crashed", reason, deps.clock());
    if (deps.sendAlert) {
      // The drill's incident resolves, so its review has an end.
      await deps.sendAlert(drillAlertPayload(drill, { drillRunId: r.id, target: r.target, status: "resolved", startsAt: r.startedAt, endsAt: deps.clock() })).catch(() => 0);
    }
    deps.logger.warn({ drillRunId: r.id, drill: r.drillId, failed }, reason);
    out.push({ drillRunId: r.id, drillId: r.drillId, undone: undo.filter((u) => u.undone).map((u) => u.name), failed });
  }
  return out;
}
