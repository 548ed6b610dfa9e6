import type { KubeTarget, PostgresTarget, PrometheusTarget, RedisTarget, TargetOperation } from "./types.ts";

/**
 * What every target operation touches: whether it mutates and the permission it needs.
 * Read by docs and by anyone granting belay its credentials. Keyed by method name, so a
 * method added to an interface without an entry here is a compile error.
 */
type Table<T> = { readonly [K in Exclude<keyof T, "name">]: Omit<TargetOperation, "name"> };

const read = (permission: string, description: string) => ({ mutates: false as const, permission, description });
/** `optionsArg`: where the method takes its MutateOptions, so a preview facade can force `dryRun`. */
const write = (permission: string, description: string, optionsArg: number) => ({ mutates: true as const, permission, description, optionsArg });

const redis = {
  info: read("redis:INFO", "INFO, parsed into sections"),
  memoryInfo: read("redis:INFO", "memory use, maxmemory and eviction policy"),
  clientsInfo: read("redis:INFO", "connected clients vs maxclients"),
  configGet: read("redis:CONFIG", "CONFIG GET of one parameter; secret ones (requirepass, masterauth) read as [redacted]"),
  configSet: write("redis:CONFIG", "CONFIG SET of one parameter; preview shows old -> new", 2),
  findKeys: read("redis:SCAN", "exact keys that exist, or a bounded SCAN MATCH"),
  deleteKeys: write("redis:DEL", "DEL of exact keys or a bounded SCAN pattern; preview lists every key", 1),
  bigKeys: read("redis:SCAN,MEMORY", "largest keys by SCAN + MEMORY USAGE within a time budget"),
  clientList: read("redis:CLIENT", "CLIENT LIST summarised by address, command, name and idle time"),
  findClients: read("redis:CLIENT", "the clients a CLIENT KILL filter selects, closing none"),
  clientKill: write("redis:CLIENT", "CLIENT KILL ID of the clients a filter selects; preview lists them", 1),
  slowlog: read("redis:SLOWLOG", "SLOWLOG GET, passwords in arguments redacted"),
} satisfies Table<RedisTarget>;

const postgres = {
  connections: read("postgres:pg_monitor", "connections vs max_connections by state, user, application"),
  idleInTransaction: read("postgres:pg_monitor", "sessions idle in transaction"),
  longRunningQueries: read("postgres:pg_monitor", "queries running longer than a threshold"),
  blockingTree: read("postgres:pg_monitor", "blocking-lock tree from pg_blocking_pids"),
  replication: read("postgres:pg_monitor", "replication lag per replica, slots"),
  xidAge: read("postgres:pg_monitor", "transaction-id age per database and oldest tables"),
  autovacuum: read("postgres:pg_monitor", "autovacuum workers and tables with dead tuples"),
  cancelBackends: write("postgres:pg_signal_backend", "pg_cancel_backend; preview names pid, query and age", 1),
  terminateBackends: write("postgres:pg_signal_backend", "pg_terminate_backend; preview names pid, query and age", 1),
  vacuumFreeze: write("postgres:table owner or MAINTAIN", "VACUUM (FREEZE) of one table", 1),
} satisfies Table<PostgresTarget>;

const kube = {
  listPods: read("core/pods:list", "pods by label selector with status, restarts, last termination"),
  events: read("core/events:list", "events about one object"),
  logs: read("core/pods/log:get", "container logs, current or previous"),
  getDeployment: read("apps/deployments:get", "a Deployment's spec and status"),
  revisions: read("apps/replicasets:list", "a Deployment's ReplicaSets by revision"),
  rolloutStatus: read("apps/deployments:get", "kubectl rollout status rules, once"),
  waitForRollout: read("apps/deployments:get", "kubectl rollout status until done or timeout"),
  rolloutRestart: write("apps/deployments:patch", "kubectl rollout restart (restartedAt annotation)", 2),
  rolloutUndo: write("apps/deployments:patch", "kubectl rollout undo (previous ReplicaSet template)", 2),
  scale: write("apps/deployments/scale:patch", "set replicas", 3),
  getConfigMap: read("core/configmaps:get", "a ConfigMap's data"),
  setConfigMapKey: write("core/configmaps:patch", "set one ConfigMap key", 4),
  setMemoryLimit: write("apps/deployments:patch", "set one container's memory limit", 4),
  podMemoryUsage: read("metrics.k8s.io/pods:list", "container memory use from metrics-server"),
  getNode: read("core/nodes:get", "a node's conditions, taints and labels"),
  listNodes: read("core/nodes:list", "nodes by label selector"),
  labelNode: write("core/nodes:patch", "set or remove a node label", 3),
  cordon: write("core/nodes:patch", "mark a node unschedulable", 1),
  uncordon: write("core/nodes:patch", "mark a node schedulable", 1),
  drain: write("core/pods/eviction:create", "evict pods through the Eviction API, respecting PDBs", 1),
  drainPlan: read("core/pods:list", "what a drain would evict and keep, evicting nothing"),
  endpoints: read("core/endpoints:get", "ready and not-ready addresses of a Service"),
} satisfies Table<KubeTarget>;

const prometheus = {
  query: read("prometheus:query", "instant PromQL query over the HTTP API"),
  queryRange: read("prometheus:query", "range PromQL query over the HTTP API"),
} satisfies Table<PrometheusTarget>;

function toList(table: Record<string, Omit<TargetOperation, "name">>): readonly TargetOperation[] {
  return Object.freeze(Object.entries(table).map(([name, op]) => Object.freeze({ name, ...op })));
}

/** Every operation per target kind. */
export const operations = Object.freeze({
  redis: toList(redis),
  postgres: toList(postgres),
  kube: toList(kube),
  prometheus: toList(prometheus),
});

export type TargetKind = keyof typeof operations;

/** The tables with their literal `mutates`, for the read-only facade types (src/targets/facade.ts). */
export type OperationTables = { redis: typeof redis; postgres: typeof postgres; kube: typeof kube; prometheus: typeof prometheus };
