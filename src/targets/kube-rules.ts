import type { CoreV1Event, V1Deployment, V1Node, V1Pod, V1PodTemplateSpec, V1ReplicaSet } from "@kubernetes/client-node";
import { parseQuantity } from "./kube-config.ts";
import { plain } from "./kube-diff.ts";
import type { KubeContainerStatus, KubeDeployment, KubeEvent, KubeNode, KubePod, KubeRevision, KubeRolloutStatus } from "./types.ts";

/** Pure rules kubectl applies, over client-node's objects. No I/O here. */

export const REVISION = "deployment.kubernetes.io/revision";
export const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";
export const POD_TEMPLATE_HASH = "pod-template-hash";
export const MIRROR_POD = "kubernetes.io/config.mirror";

/** Annotations `kubectl rollout undo` keeps from the Deployment instead of copying from the ReplicaSet. */
const UNDO_SKIPPED_ANNOTATIONS = new Set([
  "kubectl.kubernetes.io/last-applied-configuration",
  REVISION,
  "deployment.kubernetes.io/revision-history",
  "deployment.kubernetes.io/desired-replicas",
  "deployment.kubernetes.io/max-replicas",
  "deprecated.deployment.rollback.to",
]);

const iso = (d: Date | string | undefined | null): string | null => (d ? new Date(d).toISOString() : null);

export function summarisePod(p: V1Pod): KubePod {
  const statuses = p.status?.containerStatuses ?? [];
  const containers: KubeContainerStatus[] = statuses.map((c) => {
    const state = c.state?.running ? "running" : c.state?.terminated ? "terminated" : "waiting";
    const last = c.lastState?.terminated;
    return {
      name: c.name,
      ready: c.ready,
      restarts: c.restartCount,
      state,
      reason: c.state?.waiting?.reason ?? c.state?.terminated?.reason ?? null,
      message: c.state?.waiting?.message ?? c.state?.terminated?.message ?? null,
      lastTermination: last ? { reason: last.reason ?? null, exitCode: last.exitCode ?? null, finishedAt: iso(last.finishedAt) } : null,
      image: c.image,
    };
  });
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller) ?? p.metadata?.ownerReferences?.[0];
  const reason =
    containers.find((c) => c.state === "waiting" && c.reason)?.reason ??
    containers.find((c) => c.lastTermination?.reason)?.lastTermination?.reason ??
    p.status?.reason ??
    null;
  return {
    namespace: p.metadata?.namespace ?? "",
    name: p.metadata?.name ?? "",
    phase: p.status?.phase ?? "Unknown",
    ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    node: p.spec?.nodeName ?? null,
    restarts: containers.reduce((n, c) => n + c.restarts, 0),
    reason,
    createdAt: iso(p.metadata?.creationTimestamp),
    ownerKind: owner?.kind ?? null,
    ownerName: owner?.name ?? null,
    containers,
    labels: p.metadata?.labels ?? {},
  };
}

export function summariseEvent(e: CoreV1Event): KubeEvent {
  return {
    type: e.type ?? "Normal",
    reason: e.reason ?? "",
    message: e.message ?? "",
    count: e.count ?? e.series?.count ?? 1,
    lastSeen: iso(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp),
    object: `${e.involvedObject.kind ?? ""}/${e.involvedObject.name ?? ""}`,
  };
}

export function revisionOf(obj: { metadata?: { annotations?: Record<string, string> } }): number | null {
  const v = obj.metadata?.annotations?.[REVISION];
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) ? n : null;
}

export function summariseDeployment(d: V1Deployment): KubeDeployment {
  const s = d.status ?? {};
  return {
    namespace: d.metadata?.namespace ?? "",
    name: d.metadata?.name ?? "",
    generation: d.metadata?.generation ?? 0,
    observedGeneration: s.observedGeneration ?? 0,
    replicas: d.spec?.replicas ?? 1,
    updatedReplicas: s.updatedReplicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0,
    availableReplicas: s.availableReplicas ?? 0,
    unavailableReplicas: s.unavailableReplicas ?? 0,
    paused: d.spec?.paused ?? false,
    revision: revisionOf(d),
    selector: d.spec?.selector?.matchLabels ?? {},
    nodeSelector: d.spec?.template?.spec?.nodeSelector ?? {},
    containers: (d.spec?.template?.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? "",
      memoryRequest: c.resources?.requests?.memory ?? null,
      memoryLimit: c.resources?.limits?.memory ?? null,
      memoryLimitBytes: parseQuantity(c.resources?.limits?.memory),
      memoryRequestBytes: parseQuantity(c.resources?.requests?.memory),
      cpuRequest: c.resources?.requests?.cpu ?? null,
      cpuLimit: c.resources?.limits?.cpu ?? null,
    })),
    conditions: (s.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason ?? null, message: c.message ?? null })),
  };
}

/**
 * kubectl's DeploymentStatusViewer: the rollout is done only once the controller has seen
 * the latest spec and every replica is updated and available with no old ones left.
 */
export function rolloutStatus(d: V1Deployment): KubeRolloutStatus {
  const name = d.metadata?.name ?? "";
  const s = d.status ?? {};
  const generation = d.metadata?.generation ?? 0;
  if (generation > (s.observedGeneration ?? 0)) {
    return { done: false, failed: false, message: "Waiting for deployment spec update to be observed..." };
  }
  const progressing = s.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline` };
  }
  const want = d.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  const total = s.replicas ?? 0;
  const available = s.availableReplicas ?? 0;
  const waiting = `Waiting for deployment "${name}" rollout to finish: `;
  if (updated < want) return { done: false, failed: false, message: `${waiting}${updated} out of ${want} new replicas have been updated...` };
  if (total > updated) return { done: false, failed: false, message: `${waiting}${total - updated} old replicas are pending termination...` };
  if (available < updated) return { done: false, failed: false, message: `${waiting}${available} of ${updated} updated replicas are available...` };
  return { done: true, failed: false, message: `deployment "${name}" successfully rolled out` };
}

/** ReplicaSets the Deployment controls (owner reference with controller: true and its uid). */
export function ownedReplicaSets(d: V1Deployment, sets: readonly V1ReplicaSet[]): V1ReplicaSet[] {
  const uid = d.metadata?.uid;
  return sets.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.controller && o.uid === uid));
}

export function summariseRevisions(sets: readonly V1ReplicaSet[]): KubeRevision[] {
  return sets
    .map((rs) => ({
      revision: revisionOf(rs) ?? 0,
      replicaSet: rs.metadata?.name ?? "",
      createdAt: iso(rs.metadata?.creationTimestamp),
      replicas: rs.status?.replicas ?? 0,
      images: (rs.spec?.template?.spec?.containers ?? []).map((c) => c.image ?? ""),
      changeCause: rs.metadata?.annotations?.["kubernetes.io/change-cause"] ?? null,
    }))
    .sort((a, b) => b.revision - a.revision);
}

function withoutHash(t: V1PodTemplateSpec | undefined): unknown {
  const copy = plain(t ?? {}) as V1PodTemplateSpec;
  if (copy.metadata?.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH];
  return copy;
}

export type UndoPlan =
  | { kind: "patch"; fromRevision: number | null; toRevision: number; replicaSet: string; patch: unknown[] }
  | { kind: "skip"; fromRevision: number | null; toRevision: number; reason: string };

/**
 * kubectl rollout undo (DeploymentRollbacker): pick the ReplicaSet of `toRevision`, or of
 * the previous revision (the second highest); skip when its template already matches;
 * else JSON-patch `/spec/template` with its template minus pod-template-hash, and
 * `/metadata/annotations` with its annotations (keeping the Deployment's own revision and
 * last-applied annotations).
 */
export function planUndo(d: V1Deployment, owned: readonly V1ReplicaSet[], toRevision = 0): UndoPlan {
  const name = d.metadata?.name ?? "";
  if (d.spec?.paused) throw new Error(`you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/${name}' and try again`);
  let target: V1ReplicaSet | undefined;
  if (toRevision > 0) {
    target = owned.find((rs) => revisionOf(rs) === toRevision);
    if (!target) throw new Error(`unable to find specified revision ${toRevision} in history`);
  } else {
    let latest = -1;
    let previous = -1;
    let latestRs: V1ReplicaSet | undefined;
    for (const rs of owned) {
      const r = revisionOf(rs);
      if (r === null) continue;
      if (r > latest) {
        previous = latest;
        target = latestRs;
        latest = r;
        latestRs = rs;
      } else if (r > previous) {
        previous = r;
        target = rs;
      }
    }
    if (previous === -1 || !target) throw new Error(`no rollout history found for deployment "${name}"`);
  }
  const to = revisionOf(target)!;
  const from = revisionOf(d);
  if (JSON.stringify(withoutHash(target.spec?.template)) === JSON.stringify(withoutHash(d.spec?.template))) {
    return { kind: "skip", fromRevision: from, toRevision: to, reason: `skipped rollback (current template already matches revision ${to})` };
  }
  const template = withoutHash(target.spec?.template);
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) if (UNDO_SKIPPED_ANNOTATIONS.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries(target.metadata?.annotations ?? {})) if (!UNDO_SKIPPED_ANNOTATIONS.has(k)) annotations[k] = v;
  return {
    kind: "patch",
    fromRevision: from,
    toRevision: to,
    replicaSet: target.metadata?.name ?? "",
    patch: [
      { op: "replace", path: "/spec/template", value: template },
      { op: "replace", path: "/metadata/annotations", value: annotations },
    ],
  };
}

export function summariseNode(n: V1Node): KubeNode {
  const conditions = (n.status?.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason ?? null,
    message: c.message ?? null,
    lastTransition: iso(c.lastTransitionTime),
  }));
  return {
    name: n.metadata?.name ?? "",
    ready: conditions.some((c) => c.type === "Ready" && c.status === "True"),
    unschedulable: n.spec?.unschedulable ?? false,
    conditions,
    taints: (n.spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value ?? null, effect: t.effect })),
    labels: n.metadata?.labels ?? {},
    allocatableMemory: n.status?.allocatable?.memory ?? null,
  };
}

/** Why `kubectl drain` would leave a pod alone, or null to evict it. */
export function drainSkipReason(p: V1Pod): string | null {
  if (p.metadata?.annotations?.[MIRROR_POD] !== undefined) return "mirror pod (static, managed by the kubelet)";
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
  if (owner?.kind === "DaemonSet") return "DaemonSet-managed";
  if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") return `finished (${p.status.phase})`;
  if (!owner) return "not managed by a controller: evicting it would lose it for good";
  return null;
}
