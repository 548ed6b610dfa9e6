/**
 * The narrow interfaces playbooks see. Real implementations live beside this file
 * (redis.ts, postgres.ts, kube.ts) and are built only through registry.ts, from named
 * connections in configuration. Every value here is plain JSON, so step outputs survive
 * the store's JSON round trip unchanged.
 *
 * Every mutating method takes `{ dryRun: true }` and then changes nothing: Kubernetes
 * asks the API server for a server-side dry run (`dryRun: 'All'`), Redis and Postgres
 * compute exactly what would be touched. Its result is the preview.
 */

/** What a mutation did (or, with `dryRun`, would do). Assignable to a step's preview. */
export interface Change {
  /** One line: what changes, e.g. `maxmemory-policy noeviction -> allkeys-lru`. */
  readonly summary: string;
  /** Readable `path: old -> new` lines, when there is an object to compare. */
  readonly diff?: string;
  readonly dryRun: boolean;
}

export interface MutateOptions {
  /** Change nothing; describe what would change. */
  readonly dryRun?: boolean;
}

/* ------------------------------------------------------------------ Redis */

/** INFO, section name (lower case) -> field -> raw value. */
export type RedisInfo = Record<string, Record<string, string>>;

export interface RedisMemoryInfo {
  readonly usedBytes: number;
  readonly peakBytes: number;
  /** 0 means no limit. */
  readonly maxmemoryBytes: number;
  readonly policy: string;
  /** used / maxmemory, or null without a limit. */
  readonly usedRatio: number | null;
  readonly fragmentationRatio: number | null;
  readonly evictedKeys: number;
  readonly rejectedConnections: number;
}

export interface RedisClientsInfo {
  readonly connected: number;
  readonly maxclients: number;
  readonly blocked: number;
  readonly rejectedConnections: number;
}

export interface RedisClient {
  readonly id: string;
  readonly addr: string;
  /** The address without the port. */
  readonly ip: string;
  readonly name: string;
  readonly user: string;
  readonly db: number;
  readonly ageSec: number;
  readonly idleSec: number;
  readonly cmd: string;
  readonly flags: string;
}

export interface RedisClientSummary {
  readonly total: number;
  readonly byIp: readonly { readonly ip: string; readonly count: number; readonly maxIdleSec: number }[];
  readonly byCmd: readonly { readonly cmd: string; readonly count: number }[];
  readonly byName: readonly { readonly name: string; readonly count: number }[];
  /** Idle time buckets: `<1m`, `1m-10m`, `10m-1h`, `>1h`. */
  readonly idle: Readonly<Record<string, number>>;
  /** The longest-idle clients first, at most 50. */
  readonly clients: readonly RedisClient[];
}

/** Which clients CLIENT KILL should close. Every given field must hold; at least one is required. */
export interface RedisClientFilter {
  /** Only these client ids (e.g. the ones a preview listed). */
  readonly ids?: readonly string[];
  readonly idleAtLeastSec?: number;
  readonly ip?: string;
  readonly addr?: string;
  readonly user?: string;
  readonly name?: string;
  readonly cmd?: string;
  /** Never more than this many (default 1000). */
  readonly max?: number;
}

export interface RedisClientKill extends Change {
  readonly clients: readonly RedisClient[];
  readonly killed: number;
}

export interface RedisKeyDeletion extends Change {
  /** The exact keys deleted (or to delete). */
  readonly keys: readonly string[];
  readonly count: number;
  /** Keys actually removed (0 in a dry run). */
  readonly deleted: number;
}

export interface RedisBigKey {
  readonly key: string;
  readonly type: string;
  readonly bytes: number;
}

export interface RedisBigKeys {
  readonly keys: readonly RedisBigKey[];
  readonly scanned: number;
  /** False when the time budget ran out before SCAN finished. */
  readonly complete: boolean;
}

export interface RedisSlowlogEntry {
  readonly id: number;
  readonly at: string;
  readonly durationMicros: number;
  readonly command: string;
  readonly clientAddr: string;
  readonly clientName: string;
}

export interface RedisConfigChange extends Change {
  readonly parameter: string;
  readonly previous: string | null;
  readonly value: string;
}

/** A Redis target (ioredis underneath). */
/**
 * A connection kept open while an incident about the target is open, so playbooks still work
 * when the target refuses new connections (maxclients, max_connections). Not for playbooks.
 */
export interface StandingConnection {
  /** Opens (or keeps alive) the standing connection. */
  hold(): Promise<void>;
  /** Lets it go; later commands use the ordinary pool again. */
  release(): Promise<void>;
}

export interface RedisTarget {
  readonly name: string;
  /** INFO parsed into sections: `{ memory: { used_memory: "1024", ... }, keyspace: { db0: "keys=1,..." } }`. */
  info(section?: string): Promise<RedisInfo>;
  /** Memory use, limit and eviction policy, typed. */
  memoryInfo(): Promise<RedisMemoryInfo>;
  clientsInfo(): Promise<RedisClientsInfo>;
  /** CONFIG GET of one parameter; a secret one (requirepass, masterauth, ...) reads as "[redacted]", never its value. */
  configGet(parameter: string): Promise<string | null>;
  /** CONFIG SET; the result remembers the previous value for a rollback (a secret parameter's values show as "[redacted]"). */
  configSet(parameter: string, value: string, opts?: MutateOptions): Promise<RedisConfigChange>;
  /** The keys a `deleteKeys` would remove, without removing anything. Same as `deleteKeys(..., { dryRun: true })`. */
  findKeys(spec: RedisKeySpec): Promise<readonly string[]>;
  /** DEL of exact keys, or of the keys a bounded SCAN MATCH finds (never KEYS). */
  deleteKeys(spec: RedisKeySpec, opts?: MutateOptions): Promise<RedisKeyDeletion>;
  bigKeys(opts?: { budgetMs?: number; top?: number; match?: string; minBytes?: number }): Promise<RedisBigKeys>;
  clientList(): Promise<RedisClientSummary>;
  /** The clients a `clientKill` with this filter would close, closing nothing. */
  findClients(filter: RedisClientFilter): Promise<readonly RedisClient[]>;
  /** Closes the clients the filter selects (CLIENT KILL ID, never this connection). */
  clientKill(filter: RedisClientFilter, opts?: MutateOptions): Promise<RedisClientKill>;
  /** SLOWLOG GET; passwords in logged arguments (AUTH, HELLO AUTH, CONFIG SET requirepass, ...) show as "[redacted]". */
  slowlog(count?: number): Promise<readonly RedisSlowlogEntry[]>;
}

/**
 * Exact keys, or a pattern walked with SCAN. A pattern needs a literal prefix of at least
 * three characters before its first wildcard, and more than `max` matches (default 1000,
 * at most 10 000) is refused rather than deleted in part.
 */
export type RedisKeySpec = { readonly keys: readonly string[] } | { readonly pattern: string; readonly max?: number };

/* --------------------------------------------------------------- Postgres */

export interface PgCount {
  readonly key: string;
  readonly count: number;
}

export interface PgConnections {
  readonly max: number;
  readonly reservedForSuperuser: number;
  readonly used: number;
  /** used / (max - reserved). */
  readonly usedRatio: number;
  readonly byState: readonly PgCount[];
  readonly byUser: readonly PgCount[];
  readonly byApplication: readonly PgCount[];
  readonly byDatabase: readonly PgCount[];
}

export interface PgBackend {
  readonly pid: number;
  readonly user: string | null;
  readonly database: string | null;
  readonly application: string;
  readonly clientAddr: string | null;
  readonly state: string | null;
  readonly waitEvent: string | null;
  /** Seconds since the transaction began (null outside one). */
  readonly xactAgeSec: number | null;
  /** Seconds since the current (or last) query began. */
  readonly queryAgeSec: number | null;
  /** Seconds in the current state. */
  readonly stateAgeSec: number | null;
  /** At most 500 characters. */
  readonly query: string;
}

export interface PgLockNode extends PgBackend {
  readonly blockedBy: readonly number[];
  /** pids this backend blocks, directly. */
  readonly blocking: readonly number[];
  /** How many backends wait on it, directly or through others. */
  readonly blockingTotal: number;
}

export interface PgLockTree {
  /** Backends that block others and wait on nobody: the usual thing to cancel. */
  readonly roots: readonly number[];
  readonly nodes: readonly PgLockNode[];
}

export interface PgReplica {
  readonly application: string;
  readonly clientAddr: string | null;
  readonly state: string;
  readonly syncState: string;
  readonly lagBytes: number | null;
  readonly writeLagSec: number | null;
  readonly flushLagSec: number | null;
  readonly replayLagSec: number | null;
}

export interface PgReplication {
  readonly role: "primary" | "replica";
  readonly replicas: readonly PgReplica[];
  /** On a replica: seconds since the last replayed transaction. */
  readonly replayDelaySec: number | null;
  readonly slots: readonly { readonly name: string; readonly active: boolean; readonly retainedBytes: number | null }[];
}

export interface PgXidAge {
  readonly databases: readonly { readonly database: string; readonly age: number; readonly pctToWraparound: number }[];
  /** Oldest tables of the connected database. */
  readonly tables: readonly { readonly table: string; readonly schema: string; readonly name: string; readonly age: number; readonly sizeBytes: number }[];
  readonly freezeMaxAge: number;
}

export interface PgAutovacuum {
  readonly enabled: boolean;
  readonly maxWorkers: number;
  readonly running: readonly { readonly pid: number; readonly table: string | null; readonly phase: string | null; readonly ageSec: number | null }[];
  /** Tables with the most dead tuples. */
  readonly tables: readonly {
    readonly table: string;
    readonly deadTuples: number;
    readonly liveTuples: number;
    readonly lastAutovacuum: string | null;
    readonly lastVacuum: string | null;
  }[];
}

/** Which backends to cancel or terminate. Every given field must hold; at least one of pids/state/olderThanSec. */
export interface PgBackendFilter {
  readonly pids?: readonly number[];
  readonly state?: string;
  /** Age of the transaction (or, outside one, of the query). */
  readonly olderThanSec?: number;
  readonly user?: string;
  readonly application?: string;
  readonly database?: string;
  /** Only backends that block someone right now. */
  readonly blockingOthers?: boolean;
  /** Never more than this many (default 100). */
  readonly max?: number;
}

export interface PgSignalResult extends Change {
  readonly backends: readonly PgBackend[];
  /** pids the signal reached (empty in a dry run). */
  readonly signalled: readonly number[];
}

export interface PgVacuum extends Change {
  readonly table: string;
  readonly ageBefore: number;
  readonly sizeBytes: number;
  readonly ageAfter: number | null;
}

/** A Postgres target (pg underneath). */
export interface PostgresTarget {
  readonly name: string;
  connections(): Promise<PgConnections>;
  idleInTransaction(opts?: { olderThanSec?: number }): Promise<readonly PgBackend[]>;
  longRunningQueries(opts?: { olderThanSec?: number }): Promise<readonly PgBackend[]>;
  /** Who blocks whom, from pg_blocking_pids. */
  blockingTree(): Promise<PgLockTree>;
  replication(): Promise<PgReplication>;
  xidAge(opts?: { tables?: number }): Promise<PgXidAge>;
  autovacuum(): Promise<PgAutovacuum>;
  /** pg_cancel_backend for every backend the filter selects; never this session. */
  cancelBackends(filter: PgBackendFilter, opts?: MutateOptions): Promise<PgSignalResult>;
  /** pg_terminate_backend for every backend the filter selects; never this session. */
  terminateBackends(filter: PgBackendFilter, opts?: MutateOptions): Promise<PgSignalResult>;
  /** `VACUUM (FREEZE)` of one table: `table`, `schema.table`, or `{ schema, name }` (names with dots). */
  vacuumFreeze(table: string | { readonly schema: string; readonly name: string }, opts?: MutateOptions): Promise<PgVacuum>;
}

/* ------------------------------------------------------------- Kubernetes */

export interface KubeContainerStatus {
  readonly name: string;
  readonly ready: boolean;
  readonly restarts: number;
  /** running | waiting | terminated */
  readonly state: string;
  /** CrashLoopBackOff, ImagePullBackOff, Error, OOMKilled, ... */
  readonly reason: string | null;
  readonly message: string | null;
  readonly lastTermination: { readonly reason: string | null; readonly exitCode: number | null; readonly finishedAt: string | null } | null;
  readonly image: string;
}

export interface KubePod {
  readonly namespace: string;
  readonly name: string;
  readonly phase: string;
  readonly ready: boolean;
  readonly node: string | null;
  readonly restarts: number;
  /** The most telling reason: a waiting reason, else the last termination reason. */
  readonly reason: string | null;
  readonly createdAt: string | null;
  readonly ownerKind: string | null;
  readonly ownerName: string | null;
  readonly containers: readonly KubeContainerStatus[];
  readonly labels: Readonly<Record<string, string>>;
}

export interface KubeEvent {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  readonly lastSeen: string | null;
  readonly object: string;
}

export interface KubeContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly memoryRequest: string | null;
  readonly memoryLimit: string | null;
  /** The limit in bytes, parsed from the quantity. */
  readonly memoryLimitBytes: number | null;
  readonly memoryRequestBytes: number | null;
  readonly cpuRequest: string | null;
  readonly cpuLimit: string | null;
}

export interface KubeDeployment {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
  readonly observedGeneration: number;
  readonly replicas: number;
  readonly updatedReplicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  readonly unavailableReplicas: number;
  readonly paused: boolean;
  /** `deployment.kubernetes.io/revision` of the Deployment. */
  readonly revision: number | null;
  readonly selector: Readonly<Record<string, string>>;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly containers: readonly KubeContainerSpec[];
  readonly conditions: readonly { readonly type: string; readonly status: string; readonly reason: string | null; readonly message: string | null }[];
}

export interface KubeRevision {
  readonly revision: number;
  readonly replicaSet: string;
  readonly createdAt: string | null;
  readonly replicas: number;
  readonly images: readonly string[];
  readonly changeCause: string | null;
}

export interface KubeRolloutStatus {
  readonly done: boolean;
  /** ProgressDeadlineExceeded: kubectl gives up on it. */
  readonly failed: boolean;
  /** kubectl's own words, e.g. `Waiting for deployment "api" rollout to finish: 1 of 3 updated replicas are available...`. */
  readonly message: string;
}

export interface KubeNodeCondition {
  readonly type: string;
  readonly status: string;
  readonly reason: string | null;
  readonly message: string | null;
  readonly lastTransition: string | null;
}

export interface KubeNode {
  readonly name: string;
  readonly ready: boolean;
  readonly unschedulable: boolean;
  readonly conditions: readonly KubeNodeCondition[];
  readonly taints: readonly { readonly key: string; readonly value: string | null; readonly effect: string }[];
  readonly labels: Readonly<Record<string, string>>;
  readonly allocatableMemory: string | null;
}

export interface KubeDrain extends Change {
  readonly node: string;
  /** `namespace/name` of pods evicted (or to evict). */
  readonly evicted: readonly string[];
  readonly skipped: readonly { readonly pod: string; readonly reason: string }[];
  /** Pods still there when the deadline passed. */
  readonly remaining: readonly string[];
  readonly complete: boolean;
}

export interface KubeEndpoints {
  readonly ready: readonly string[];
  readonly notReady: readonly string[];
}

export interface KubeUndo extends Change {
  readonly fromRevision: number | null;
  readonly toRevision: number;
  readonly skipped: boolean;
}

/** A Kubernetes target (@kubernetes/client-node underneath). */
export interface KubeTarget {
  readonly name: string;
  /** Pods matching a label selector such as `app=api`. */
  listPods(namespace: string, selector: string): Promise<readonly KubePod[]>;
  /** Events about one object (a pod by default), newest last. */
  events(namespace: string, name: string, kind?: string): Promise<readonly KubeEvent[]>;
  /** Container logs; `previous` reads the last terminated instance. */
  logs(namespace: string, pod: string, opts?: { container?: string; previous?: boolean; tailLines?: number }): Promise<string>;
  getDeployment(namespace: string, name: string): Promise<KubeDeployment>;
  /** The Deployment's ReplicaSets by revision, newest first. */
  revisions(namespace: string, deployment: string): Promise<readonly KubeRevision[]>;
  /** One check of kubectl's rollout status rules. */
  rolloutStatus(namespace: string, deployment: string): Promise<KubeRolloutStatus>;
  /** Polls rolloutStatus until done, failed, or the timeout. */
  waitForRollout(namespace: string, deployment: string, opts: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal }): Promise<KubeRolloutStatus>;
  rolloutRestart(namespace: string, deployment: string, opts?: MutateOptions): Promise<Change>;
  /** kubectl rollout undo: back to the previous revision, or to `toRevision`. */
  rolloutUndo(namespace: string, deployment: string, opts?: MutateOptions & { toRevision?: number }): Promise<KubeUndo>;
  scale(namespace: string, deployment: string, replicas: number, opts?: MutateOptions): Promise<Change>;
  getConfigMap(namespace: string, name: string): Promise<Readonly<Record<string, string>>>;
  setConfigMapKey(namespace: string, name: string, key: string, value: string, opts?: MutateOptions): Promise<Change>;
  setMemoryLimit(namespace: string, deployment: string, container: string, limit: string, opts?: MutateOptions): Promise<Change>;
  /** Container memory use from metrics.k8s.io, bytes by `pod/container`; empty without metrics-server. */
  podMemoryUsage(namespace: string, selector: string): Promise<Readonly<Record<string, number>>>;
  getNode(name: string): Promise<KubeNode>;
  listNodes(selector?: string): Promise<readonly KubeNode[]>;
  /** Sets a node label, or removes it when value is null. */
  labelNode(name: string, key: string, value: string | null, opts?: MutateOptions): Promise<Change>;
  cordon(name: string, opts?: MutateOptions): Promise<Change>;
  uncordon(name: string, opts?: MutateOptions): Promise<Change>;
  /** Evicts every pod but DaemonSet and mirror pods, backing off while a PodDisruptionBudget answers 429. */
  drain(name: string, opts: MutateOptions & { deadlineMs: number; backoffMs?: number; signal?: AbortSignal }): Promise<KubeDrain>;
  /** What a drain would evict and keep, evicting nothing (a drain's dry run, for diagnose steps). */
  drainPlan(name: string): Promise<KubeDrain>;
  endpoints(namespace: string, service: string): Promise<KubeEndpoints>;
}

/* ------------------------------------------------------------- Prometheus */

export interface PromQueryOptions {
  /** Evaluation time of an instant query (default: now on the server). */
  readonly time?: Date | string;
  /** Abandon the request after this long (default 10 s); the server gets it as its timeout too. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** One sample of an instant query. `value` may be NaN or ±Infinity (Prometheus sends "+Inf"). */
export interface PromSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly at: string;
  readonly value: number;
}

export interface PromResult {
  readonly type: "vector" | "scalar";
  readonly series: readonly PromSample[];
}

export interface PromRangeSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly values: readonly { readonly at: string; readonly value: number }[];
}

/** A Prometheus server, read-only: what the alert's metric says now and over a window. */
export interface PrometheusTarget {
  readonly name: string;
  query(expr: string, opts?: PromQueryOptions): Promise<PromResult>;
  /** `step` in seconds. */
  queryRange(expr: string, start: Date | string, end: Date | string, step: number, opts?: Omit<PromQueryOptions, "time">): Promise<readonly PromRangeSeries[]>;
}

/** Named connections from configuration. Asking for one that is not configured throws a clear error. */
export interface Targets {
  redis(name: string): RedisTarget;
  postgres(name: string): PostgresTarget;
  kube(name: string): KubeTarget;
  /** Without a name: the only configured Prometheus (an error names the choice when there are none or several). */
  prometheus(name?: string): PrometheusTarget;
}

/** One entry of a target's operations table: what it touches, for docs and permission checks. */
export interface TargetOperation {
  readonly name: string;
  readonly mutates: boolean;
  /** e.g. `apps/deployments:patch`, `redis:CONFIG`, `postgres:pg_signal_backend`. */
  readonly permission: string;
  readonly description: string;
  /** Mutating operations: the argument index of their MutateOptions. */
  readonly optionsArg?: number;
}
