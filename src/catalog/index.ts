/**
 * The catalog of canonical failure modes (../shared/failure-modes.md): what each looks like,
 * the signals that recognise it, its defences and the playbooks that answer it.
 */
import { kubernetesCluster } from "./kubernetes-cluster.ts";
import { kubernetesWorkloads } from "./kubernetes-workloads.ts";
import { caches, databases } from "./data-stores.ts";
import { operations, performance } from "./performance.ts";
import type { Catalog, FailureMode, FailureModeId } from "./types.ts";

export { FAILURE_MODE_IDS, isFailureModeId, type FailureModeId } from "./ids.ts";
export type * from "./types.ts";

/** Every failure mode, in the document's order. */
export const catalog: Catalog = Object.freeze([
  ...kubernetesWorkloads,
  ...kubernetesCluster,
  ...performance,
  ...databases,
  ...caches,
  ...operations,
]);

const byId: ReadonlyMap<string, FailureMode> = new Map(catalog.map((m) => [m.id, m]));

/** The failure mode with this id, or undefined. */
export function findFailureMode(id: string): FailureMode | undefined {
  return byId.get(id);
}

/** The failure mode with this id; an id outside the union is a compile error. */
export function failureMode(id: FailureModeId): FailureMode {
  const mode = byId.get(id);
  if (!mode) throw new Error(`catalog has no failure mode "${id}"`);
  return mode;
}
