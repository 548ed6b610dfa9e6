/**
 * Every canonical failure-mode id (../shared/failure-modes.md), in its order. The catalog
 * holds exactly these; a unit test checks the list against the document.
 */
export const FAILURE_MODE_IDS = [
  // Kubernetes workloads
  "pod-crashloop",
  "pod-not-ready",
  "image-pull-backoff",
  "oom-killed",
  "deployment-replicas-mismatch",
  "deployment-rollout-stuck",
  "statefulset-replicas-mismatch",
  "job-failed",
  "hpa-maxed-out",
  "cpu-throttling",
  "liveness-probe-loop",
  "api-deadlock",
  // Kubernetes nodes and cluster
  "node-not-ready",
  "node-unreachable",
  "node-disk-pressure",
  "node-memory-pressure",
  "node-memory-high",
  "kubelet-down",
  "capacity-overcommit",
  "disk-filling",
  "inode-exhaustion",
  "pv-filling",
  "clock-skew",
  "coredns-down",
  "dns-latency",
  "dns-servfail",
  "target-down",
  "slo-error-budget-burn",
  "cert-expiry",
  "endpoint-down",
  // Performance & API
  "latency-slo",
  "error-rate-5xx",
  "rate-limited-429",
  "retry-storm",
  "cascading-failure",
  "circuit-breaker-open",
  "thread-starvation",
  "memory-leak",
  "connection-storm",
  // Databases
  "postgres-down",
  "postgres-connections-exhausted",
  "postgres-low-connections",
  "postgres-replication-lag",
  "postgres-deadlocks",
  "postgres-rollback-rate",
  "autovacuum-stalled",
  "xid-wraparound",
  "slow-query",
  "db-pooler-unreachable",
  // Caches
  "redis-down",
  "redis-maxmemory",
  "redis-host-memory",
  "redis-connections",
  "cache-stampede",
  "hot-key",
  "stale-cache",
  // Operations & observability
  "metrics-pipeline-down",
  "config-reload-failure",
  "bad-deploy",
  "secret-leak",
] as const;

/** A canonical failure-mode id. */
export type FailureModeId = (typeof FAILURE_MODE_IDS)[number];

const ID_SET: ReadonlySet<string> = new Set(FAILURE_MODE_IDS);

export function isFailureModeId(value: unknown): value is FailureModeId {
  return typeof value === "string" && ID_SET.has(value);
}
