import { stringify } from "yaml";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import { CLUSTER_SCOPED, formatKubePermission, isKubePermission, kubeAccess, parseKubePermission, type KubePermission } from "../targets/kube-access.ts";

/** Every permission some kube target method needs: belay reaches the API only through them, so nothing else is ever granted. */
const USABLE: ReadonlySet<string> = new Set(Object.values(kubeAccess).flatMap((a) => a.permissions));

/*
 * Methods that act across every namespace at once (a drain lists and evicts a node's pods
 * wherever they run). A step declaring a permission only such a method needs is one of them:
 * what those methods need is granted to it cluster-wide, whatever namespace its playbook takes.
 */
const ALL_NAMESPACES = Object.values(kubeAccess).filter((a) => a.allNamespaces);
const ONLY_ALL_NAMESPACES: ReadonlySet<string> = new Set(
  ALL_NAMESPACES.flatMap((a) => a.permissions).filter((p) => Object.values(kubeAccess).every((a) => a.allNamespaces || !a.permissions.includes(p))),
);
const OF_ALL_NAMESPACES: ReadonlySet<string> = new Set(ALL_NAMESPACES.flatMap((a) => a.permissions));

/**
 * Kubernetes RBAC derived from the playbooks: exactly the `group/resource:verb` permissions
 * their steps declare (src/targets/kube-access.ts says what each target method needs, and a
 * test holds every step to it), least privilege, never a wildcard. One rule per apiGroup and
 * resource, verbs sorted, rules sorted, so the output is stable and diffs read well.
 *
 * Scope: a namespaced resource goes in a Role in `namespace` (belay acts on its own
 * namespace) unless `cluster` is set, which grants it in every namespace (ClusterRole). A
 * cluster-scoped resource (nodes), and anything a playbook that takes no `namespace` param
 * touches (a node drain evicts pods wherever they run), can only be granted by a ClusterRole.
 */
export interface RbacOptions {
  /** Where belay's ServiceAccount lives, and the Role when not `cluster`. */
  namespace: string;
  cluster: boolean;
  serviceAccount?: string;
}

export const DEFAULT_NAMESPACE = "belay";
export const SERVICE_ACCOUNT = "belay";

/** One needed permission, where it must be granted, and the steps that need it. */
export interface NeededPermission {
  readonly permission: KubePermission;
  readonly clusterWide: boolean;
  /** `playbook/step`, sorted. */
  readonly neededBy: readonly string[];
}

export interface RbacRule {
  apiGroups: [string];
  resources: [string];
  verbs: string[];
}

function takesNamespace(pb: AnyPlaybook): boolean {
  const shape = (pb.params as { shape?: Record<string, unknown> }).shape;
  return !!shape && "namespace" in shape;
}

/** Every Kubernetes permission the playbooks' steps declare; a malformed one throws, naming the step. */
export function neededPermissions(playbooks: Iterable<AnyPlaybook>): NeededPermission[] {
  const found = new Map<string, { permission: KubePermission; clusterWide: boolean; neededBy: Set<string> }>();
  for (const pb of playbooks) {
    for (const step of pb.steps) {
      const acrossNamespaces = step.permissions.some((p) => ONLY_ALL_NAMESPACES.has(p));
      for (const p of step.permissions) {
        if (!isKubePermission(p)) continue;
        let perm: KubePermission;
        try {
          perm = parseKubePermission(p);
        } catch (err) {
          throw new Error(`playbook ${pb.id}, step ${step.name}: ${(err as Error).message}`);
        }
        if (!USABLE.has(formatKubePermission(perm))) {
          throw new Error(`playbook ${pb.id}, step ${step.name}: permission ${formatKubePermission(perm)} is used by no kube target method (src/targets/kube-access.ts), so belay never needs it`);
        }
        const clusterWide = CLUSTER_SCOPED.has(perm.resource.split("/")[0]!) || !takesNamespace(pb) || (acrossNamespaces && OF_ALL_NAMESPACES.has(p));
        const key = `${clusterWide ? "c" : "n"} ${formatKubePermission(perm)}`;
        const entry = found.get(key) ?? { permission: perm, clusterWide, neededBy: new Set<string>() };
        entry.neededBy.add(`${pb.id}/${step.name}`);
        found.set(key, entry);
      }
    }
  }
  return [...found.values()].map((e) => ({ permission: e.permission, clusterWide: e.clusterWide, neededBy: [...e.neededBy].sort() }));
}

/** Merged per apiGroup and resource, verbs and rules sorted. */
export function rulesOf(perms: readonly KubePermission[]): RbacRule[] {
  const byResource = new Map<string, { apiGroup: string; resource: string; verbs: Set<string> }>();
  for (const p of perms) {
    const key = `${p.apiGroup}\u0000${p.resource}`;
    const r = byResource.get(key) ?? { apiGroup: p.apiGroup, resource: p.resource, verbs: new Set<string>() };
    r.verbs.add(p.verb);
    byResource.set(key, r);
  }
  return [...byResource.values()]
    .sort((a, b) => (a.apiGroup === b.apiGroup ? (a.resource < b.resource ? -1 : 1) : a.apiGroup < b.apiGroup ? -1 : 1))
    .map((r) => ({ apiGroups: [r.apiGroup], resources: [r.resource], verbs: [...r.verbs].sort() }));
}

const LABELS = { "app.kubernetes.io/name": "belay", "app.kubernetes.io/component": "rbac", "app.kubernetes.io/managed-by": "belay-rbac" };

/** The Role/ClusterRole and bindings, as Kubernetes objects (empty roles are left out). */
export function rbacObjects(playbooks: Iterable<AnyPlaybook>, opts: RbacOptions): Record<string, unknown>[] {
  const sa = opts.serviceAccount ?? SERVICE_ACCOUNT;
  const needed = neededPermissions(playbooks);
  const inCluster = needed.filter((n) => opts.cluster || n.clusterWide).map((n) => n.permission);
  const inNamespace = opts.cluster ? [] : needed.filter((n) => !n.clusterWide).map((n) => n.permission);
  const subject = [{ kind: "ServiceAccount", name: sa, namespace: opts.namespace }];
  const objects: Record<string, unknown>[] = [];
  if (inNamespace.length > 0) {
    const name = "belay-playbooks";
    objects.push(
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name, namespace: opts.namespace, labels: LABELS }, rules: rulesOf(inNamespace) },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name, namespace: opts.namespace, labels: LABELS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: subject,
      },
    );
  }
  if (inCluster.length > 0) {
    // ClusterRoles have no namespace: the name carries belay's, so two installations do not collide.
    const name = `belay-playbooks-${opts.namespace}`;
    objects.push(
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name, labels: LABELS }, rules: rulesOf(inCluster) },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name, labels: LABELS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects: subject,
      },
    );
  }
  return objects;
}

/** `belay rbac`'s output: a header naming the command and, per permission, the steps that need it; then the objects. */
export function renderRbac(playbooks: readonly AnyPlaybook[], opts: RbacOptions): string {
  const flags = [`--namespace ${opts.namespace}`, ...(opts.cluster ? ["--cluster"] : [])].join(" ");
  // One line per permission and where it is granted (with --cluster, everything is cluster-wide).
  const lines = new Map<string, Set<string>>();
  for (const n of neededPermissions(playbooks)) {
    const key = `${formatKubePermission(n.permission)}${n.clusterWide && !opts.cluster ? " (cluster-wide)" : ""}`;
    const set = lines.get(key) ?? new Set<string>();
    for (const s of n.neededBy) set.add(s);
    lines.set(key, set);
  }
  const header = [
    `# Generated by \`belay rbac ${flags}\` from the playbooks; do not edit by hand.`,
    "# Each permission and the playbook steps that declare it:",
    ...[...lines.keys()].sort().map((k) => `#   ${k}: ${[...lines.get(k)!].sort().join(", ")}`),
  ];
  if (lines.size === 0) header.push("#   (none: no enabled playbook touches Kubernetes)");
  const docs = rbacObjects(playbooks, opts).map((o) => stringify(o, { lineWidth: 0 }).trimEnd());
  return `${header.join("\n")}\n${docs.map((d) => `---\n${d}`).join("\n")}\n`;
}
