/**
 * Everything a playbook may import. Nothing else of src/ is imported from playbooks/.
 */
export { z } from "zod";
export { playbook, isPlaybook, type Playbook, type AnyPlaybook } from "./playbook.ts";
export { secret } from "./secret.ts";
export { target, type TargetKind } from "./target.ts";
export { alertSchema, type Alert } from "./alert.ts";
export type * from "./types.ts";
export type { Targets, RedisTarget, PostgresTarget, KubeTarget, PrometheusTarget, Change } from "../targets/types.ts";
export type { ReadOnlyTargets, PreviewTargets } from "../targets/facade.ts";
export { alertExpressionNow, type AlertExpressionNow } from "./prometheus.ts";
export { drill, isDrill, Drill, type DrillMeta, type DrillContext, type DrillFaults, type InjectionSpec, type DrillMode, type DrillAlert, type DrillCriteria, type DrillProbe, type ProbeStats, type RedisFaults, type Simulation, type SimulatedFault, type CheckValue } from "./drill.ts";
export { rolloutRestartStep, rolloutUndoStep, type DeploymentParams } from "./kube-steps.ts";
