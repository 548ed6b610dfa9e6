import type { TargetConfig } from "../config.ts";
import { BelayError } from "../errors.ts";
import type { DrillMode } from "../sdk/drill.ts";
import { targetsFor, type ReadOnlyTargets } from "../targets/facade.ts";
import type { Targets } from "../targets/types.ts";
import { REHEARSAL_KUBE } from "./simulation.ts";

/** The named targets a drill may change: those marked `drill: true` in BELAY_CONFIG. */
export interface DrillTargetMarks {
  redis: readonly string[];
  postgres: readonly string[];
  kube: readonly string[];
}

export const NO_DRILL_TARGETS: DrillTargetMarks = { redis: [], postgres: [], kube: [] };

/** The names marked `drill: true` under `targets:`. */
export function drillTargetMarks(config: Pick<TargetConfig, "redis" | "postgres" | "kube">): DrillTargetMarks {
  const marked = (m: Record<string, { drill?: boolean | undefined }>) => Object.entries(m).filter(([, t]) => t.drill === true).map(([n]) => n);
  return { redis: marked(config.redis), postgres: marked(config.postgres), kube: marked(config.kube) };
}

/**
 * What a drill's functions may touch, by phase. Previews get dry-run targets; capture,
 * recovery checks and abort conditions read only; `run` and `undo` get the full targets, but
 * only those marked for drills (a live drill) or only the rehearsal's simulated cluster (a
 * rehearsal, which changes nothing real). All of it before anyone approved the injection
 * must be harmless, so nothing before `run` may change anything.
 */
export type DrillPhase = "preview" | "read" | "change";

export function drillTargetsFor(targets: Targets, phase: "read"): ReadOnlyTargets;
export function drillTargetsFor(targets: Targets, phase: DrillPhase, mode: DrillMode, marks: DrillTargetMarks): Targets;
export function drillTargetsFor(targets: Targets, phase: DrillPhase, mode?: DrillMode, marks: DrillTargetMarks = NO_DRILL_TARGETS): Targets | ReadOnlyTargets {
  if (phase === "read") return targetsFor(targets, "read");
  if (phase === "preview") return targetsFor(targets, "preview");
  const allowed: DrillTargetMarks = mode === "live" ? { ...marks, kube: [...marks.kube, REHEARSAL_KUBE] } : { redis: [], postgres: [], kube: [REHEARSAL_KUBE] };
  const only =
    <K extends "redis" | "postgres" | "kube">(kind: K) =>
    (name: string): ReturnType<Targets[K]> => {
      if (!allowed[kind].includes(name)) {
        throw new BelayError(
          "drill.target_refused",
          mode === "live"
            ? `${kind} target '${name}' is not marked for drills: a drill changes only targets with drill: true (targets.${kind}.${name}.drill in BELAY_CONFIG)`
            : `a rehearsal changes nothing real: ${kind} target '${name}' is not available to its injections (use faults.simulation, or make the drill live and mark the target drill: true)`,
        );
      }
      return (targets[kind] as (n: string) => ReturnType<Targets[K]>).call(targets, name);
    };
  return {
    redis: only("redis"),
    postgres: only("postgres"),
    kube: only("kube"),
    prometheus: (name) => targets.prometheus(name),
  };
}
