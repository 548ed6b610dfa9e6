import type { KubeTarget } from "./types.ts";

/**
 * What each Kubernetes target method asks the API server for, as RBAC sees it: every
 * `group/resource[/subresource]:verb` its implementation (src/targets/kube.ts,
 * kube-drain.ts) can send, preview (server-side dry run) included: a dry run needs the same
 * verb as the real call. Keyed by method name, so a method added to KubeTarget without an
 * entry is a compile error; test/integration/kube-access.test.ts drives every method against
 * a fake API server and checks each list is exactly what goes over the wire.
 *
 * `core` is the legacy group ("" in RBAC). `allNamespaces` marks a method that reads or acts
 * across every namespace at once (a drain lists the node's pods wherever they run), which only
 * a ClusterRole can grant.
 */
export interface KubeAccess {
  readonly permissions: readonly string[];
  readonly allNamespaces?: boolean;
}

const DEPLOYMENT_PATCH = ["apps/deployments:get", "apps/deployments:patch"] as const;
const NODE_PATCH = ["core/nodes:get", "core/nodes:patch"] as const;

export const kubeAccess: { readonly [K in Exclude<keyof KubeTarget, "name">]: KubeAccess } = {
  listPods: { permissions: ["core/pods:list"] },
  events: { permissions: ["core/events:list"] },
  logs: { permissions: ["core/pods/log:get"] },
  getDeployment: { permissions: ["apps/deployments:get"] },
  revisions: { permissions: ["apps/deployments:get", "apps/replicasets:list"] },
  rolloutStatus: { permissions: ["apps/deployments:get"] },
  waitForRollout: { permissions: ["apps/deployments:get"] },
  rolloutRestart: { permissions: DEPLOYMENT_PATCH },
  rolloutUndo: { permissions: ["apps/deployments:get", "apps/replicasets:list", "apps/deployments:patch"] },
  scale: { permissions: ["apps/deployments/scale:get", "apps/deployments/scale:patch"] },
  getConfigMap: { permissions: ["core/configmaps:get"] },
  setConfigMapKey: { permissions: ["core/configmaps:get", "core/configmaps:patch"] },
  setMemoryLimit: { permissions: DEPLOYMENT_PATCH },
  podMemoryUsage: { permissions: ["metrics.k8s.io/pods:list"] },
  getNode: { permissions: ["core/nodes:get"] },
  listNodes: { permissions: ["core/nodes:list"] },
  labelNode: { permissions: NODE_PATCH },
  cordon: { permissions: NODE_PATCH },
  uncordon: { permissions: NODE_PATCH },
  drain: { permissions: ["core/pods:list", "core/pods/eviction:create"], allNamespaces: true },
  drainPlan: { permissions: ["core/pods:list"], allNamespaces: true },
  endpoints: { permissions: ["core/endpoints:get"] },
};

export type KubeMethod = keyof typeof kubeAccess;
export const KUBE_METHODS = Object.keys(kubeAccess) as KubeMethod[];

/** Kubernetes RBAC verbs belay may ever be granted (never `*`, never `escalate`/`bind`/`impersonate`). */
export const KUBE_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"] as const;

/** Resources that have no namespace: a Role cannot grant them, only a ClusterRole. */
export const CLUSTER_SCOPED = new Set(["nodes", "namespaces", "persistentvolumes", "storageclasses", "clusterroles", "clusterrolebindings", "customresourcedefinitions"]);

export interface KubePermission {
  /** RBAC apiGroup: "" for the core group. */
  readonly apiGroup: string;
  /** `pods`, or `pods/eviction` for a subresource. */
  readonly resource: string;
  readonly verb: string;
}

const KUBE_PERMISSION = /^([a-z0-9][a-z0-9.-]*)\/([a-z][a-z0-9]*(?:\/[a-z][a-z0-9]*)?):([a-z]+)$/;

/** Whether a step permission names a Kubernetes API (`group/resource:verb`), not another target's (`redis:CONFIG`). */
export function isKubePermission(p: string): boolean {
  const colon = p.indexOf(":");
  return colon > 0 && p.slice(0, colon).includes("/");
}

/** `apps/deployments:patch` -> { apiGroup: "apps", resource: "deployments", verb: "patch" }; throws on a malformed one. */
export function parseKubePermission(p: string): KubePermission {
  const m = KUBE_PERMISSION.exec(p);
  if (!m) throw new Error(`permission "${p}" is not group/resource:verb (e.g. apps/deployments:patch, core/pods/log:get)`);
  const verb = m[3]!;
  if (!(KUBE_VERBS as readonly string[]).includes(verb)) throw new Error(`permission "${p}": verb ${verb} is not one of ${KUBE_VERBS.join(", ")}`);
  return { apiGroup: m[1] === "core" ? "" : m[1]!, resource: m[2]!, verb };
}

export function formatKubePermission(p: KubePermission): string {
  return `${p.apiGroup === "" ? "core" : p.apiGroup}/${p.resource}:${p.verb}`;
}

/**
 * The permission one HTTP request to the API server needs, as the API server's authorizer
 * derives it: the path names group, resource and subresource; GET on a collection is `list`
 * (on one object `get`), POST `create`, PATCH `patch`, PUT `update`, DELETE `delete`.
 */
export function permissionOfRequest(method: string, path: string, query: Readonly<Record<string, string>> = {}): KubePermission {
  const parts = path.split("/").filter(Boolean);
  let rest: string[];
  let apiGroup: string;
  if (parts[0] === "api") {
    apiGroup = "";
    rest = parts.slice(2); // api, v1
  } else if (parts[0] === "apis") {
    apiGroup = parts[1]!;
    rest = parts.slice(3); // apis, group, version
  } else throw new Error(`${method} ${path} is not a Kubernetes resource path`);
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, sub] = rest;
  if (!resource) throw new Error(`${method} ${path} names no resource`);
  const verbs: Record<string, string> = { POST: "create", PATCH: "patch", PUT: "update", DELETE: name ? "delete" : "deletecollection" };
  const verb = method === "GET" ? (name ? "get" : query.watch === "true" ? "watch" : "list") : verbs[method];
  if (!verb) throw new Error(`${method} ${path}: no RBAC verb for ${method}`);
  return { apiGroup, resource: sub ? `${resource}/${sub}` : resource, verb };
}
