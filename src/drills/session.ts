import type { Drill } from "../sdk/drill.ts";
import type { DetectMode } from "./detect.ts";
import type { RecoveredDrill } from "./recover.ts";
import type { DrillReport } from "./report.ts";
import type { DrillDeps } from "./runner.ts";
import type { RehearsalWorld } from "./simulation.ts";

/** A serving belay's drills: what openDrillSession (launch.ts) returns. */
export interface DrillSession {
  deps: DrillDeps;
  world: RehearsalWorld;
  recovered: RecoveredDrill[];
  run(drill: Drill, opts: { target?: string; startedBy: string; probeUrl?: string; drillRunId?: string; onGate?: (runId: string) => void; detect?: DetectMode }): Promise<DrillReport>;
  close(): Promise<void>;
}
