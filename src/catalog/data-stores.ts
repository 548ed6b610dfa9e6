import { from, type FailureMode } from "./types.ts";

/*
 * Postgres: samber/awesome-prometheus-alerts (postgres_exporter rules), the postgres_exporter
 * mixin, the pgbouncer mixin, Canonical's charmed PostgreSQL rules, the CloudNativePG cluster
 * chart's rules (cloudnative-pg/charts, charts/cluster/prometheus_rules) and Crunchy Data's
 * pgmonitor rules (crunchy-alert-rules-pg.yml). Redis: the
 * awesome-prometheus-alerts rules for oliver006/redis_exporter.
 */
export const databases: readonly FailureMode[] = [
  {
    id: "postgres-down",
    category: "databases",
    symptom: "Postgres is unreachable.",
    signals: {
      alertnames: [
        ...from("awesome-prometheus-alerts", "PostgresqlDown"),
        ...from("postgres-mixin", "PostgreSQLDown"),
        ...from("charmed-postgresql", "PatroniPostgresqlDown", "PatroniHasNoLeader"),
        ...from("cloudnative-pg", "CNPGClusterOffline"),
        ...from("pgmonitor", "PGIsUp", "PGNoPrimary"),
      ],
      labelHints: [{ label: "datname" }],
      textPatterns: [
        /\bpostgres(ql)?\b[^\n]{0,40}\b(is )?(down|unreachable|not processing queries)\b/i,
        /\bcould not connect to server\b[^\n]{0,80}\b5432\b/i,
        /\bthe database system is (shutting down|starting up|in recovery mode)\b/i,
      ],
    },
    defences: ["streaming replicas with automated failover", "connection retries with backoff", "a pooler that queues during failover"],
    playbooks: [],
  },
  {
    id: "postgres-connections-exhausted",
    category: "databases",
    symptom: "Connections are near max_connections.",
    signals: {
      alertnames: [
        ...from("awesome-prometheus-alerts", "PostgresqlTooManyConnections"),
        ...from("postgres-mixin", "PostgreSQLMaxConnectionsReached", "PostgreSQLHighConnections"),
        ...from(
          "pgbouncer-mixin",
          "PGBouncerHighNumberClientWaitingConnections",
          "PGBouncerHighClientWaitTime",
          "PGBouncerHighServerConnectionSaturationWarning",
          "PGBouncerHighServerConnectionSaturationCritical",
        ),
        ...from("charmed-postgresql", "PgbouncerMaxConnections"),
        ...from("cloudnative-pg", "CNPGClusterHighConnectionsWarning"),
        ...from("pgmonitor", "PGConnPerc", "PGIdleTxn"),
      ],
      labelHints: [{ label: "state", value: "idle in transaction" }],
      textPatterns: [
        /\btoo many clients already\b/i,
        /\bremaining connection slots are reserved\b/i,
        /\bpostgres(ql)?\b[^\n]{0,40}\b(too many|maxed out|high) connections\b/i,
        /\bmax(ed out)? postgres connections\b/i,
        /\bmax_connections\b/i,
        /\bidle in transaction\b/i,
        /\bclients waiting for (available server )?connections\b/i,
      ],
    },
    defences: ["a transaction-mode pooler", "idle_in_transaction_session_timeout", "per-application connection limits"],
    playbooks: ["postgres-cancel-blocker", "postgres-terminate-idle-in-transaction"],
  },
  {
    id: "postgres-low-connections",
    category: "databases",
    symptom: "Far fewer client connections than normal: the client tier cannot reach the database.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "PostgresqlNotEnoughConnections")],
      labelHints: [{ label: "datname" }],
      textPatterns: [/\bpostgres(ql)?\b[^\n]{0,40}\b(not enough connections|should have more connections)\b/i],
    },
    defences: ["alert on client-side connection errors too", "pooler health checks"],
    playbooks: ["db-pooler-failover"],
  },
  {
    id: "postgres-replication-lag",
    category: "databases",
    symptom: "A replica falls behind its primary.",
    signals: {
      alertnames: [
        ...from("awesome-prometheus-alerts", "PostgresqlReplicationLag"),
        ...from("common", "PostgreSQLReplicationLag"),
        // CNPG's HA alerts fire when standbys stop streaming (fewer than two, or none, keep up).
        ...from("cloudnative-pg", "CNPGClusterHighReplicationLag", "CNPGClusterPhysicalReplicationLagWarning", "CNPGClusterHAWarning", "CNPGClusterHACritical"),
        ...from("pgmonitor", "PGReplicationByteLag"),
      ],
      labelHints: [{ label: "application_name" }],
      textPatterns: [/\breplication lag\b/i, /\b(replica|standby)\b[^\n]{0,40}\b(falls?|fell|is|lagging) behind\b/i, /\bbytes behind (the )?(master|primary)\b/i],
    },
    defences: ["alert on replay lag in seconds and bytes", "hot_standby_feedback weighed against bloat", "replicas sized like the primary"],
    playbooks: ["postgres-replication-lag"],
  },
  {
    id: "postgres-deadlocks",
    category: "databases",
    symptom: "Transactions deadlock or queue behind a blocking lock.",
    signals: {
      alertnames: [
        ...from("awesome-prometheus-alerts", "PostgresqlDeadLocks", "PostgresqlHighRateDeadlock", "PostgresqlTooManyLocksAcquired"),
        ...from("common", "PostgreSQLDeadlocks"),
      ],
      labelHints: [{ label: "datname" }],
      textPatterns: [/\bdeadlock detected\b/i, /\bSQLSTATE 40P01\b/i, /\bpostgres(ql)?\b[^\n]{0,30}\bdead-?locks?\b/i, /\bblocking (lock|query|queries|pid)\b/i, /\bwaiting for (Share|Exclusive|AccessExclusive)Lock\b/i, /\block wait timeout\b/i],
    },
    defences: ["a consistent lock order in application code", "lock_timeout on migrations", "short transactions"],
    playbooks: ["postgres-cancel-blocker"],
  },
  {
    id: "postgres-rollback-rate",
    category: "databases",
    symptom: "Unusually many transactions roll back.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "PostgresqlHighRollbackRate")],
      labelHints: [{ label: "datname" }],
      textPatterns: [/\brollback rate\b/i, /\btransactions being aborted\b/i],
    },
    defences: ["application errors surfaced with their SQLSTATE", "serialization retries bounded"],
    playbooks: [],
  },
  {
    id: "autovacuum-stalled",
    category: "databases",
    symptom: "Tables are not vacuumed; dead tuples pile up.",
    signals: {
      alertnames: [
        ...from("awesome-prometheus-alerts", "PostgresqlTableNotAutoVacuumed", "PostgresqlTableNotAutoAnalyzed", "PostgresqlTooManyDeadTuples", "PostgresqlBloatTableHigh(>80%)"),
        ...from("pgmonitor", "PGEmergencyVacuum"),
      ],
      labelHints: [{ label: "relname" }],
      textPatterns: [/\bnot (been )?auto[- ]?(vacuumed|analyzed)\b/i, /\bdead tuples\b/i, /\bautovacuum\b[^\n]{0,30}\b(stalled|not running|blocked|behind|cancel\w*)\b/i, /\btable\b[^\n]{0,40}\bis bloated\b/i],
    },
    defences: ["autovacuum tuned per large table", "no long-running transactions holding back the horizon", "bloat monitoring"],
    playbooks: ["postgres-xid-wraparound-freeze"],
  },
  {
    id: "xid-wraparound",
    category: "databases",
    symptom: "Transaction ID age approaches wraparound.",
    signals: {
      alertnames: [...from("pgmonitor", "PGXIDWraparound")],
      labelHints: [{ label: "datname" }],
      textPatterns: [
        /\bwraparound\b/i,
        /\btransaction ?id (age|exhaustion)\b/i,
        /\b(xid|datfrozenxid|relfrozenxid)\b[^\n]{0,20}\bage\b/i,
        /\bnot accepting commands to avoid wraparound data loss\b/i,
      ],
    },
    defences: ["alert on age(datfrozenxid) well before the limit", "autovacuum_freeze_max_age tuned", "no abandoned replication slots or prepared transactions"],
    playbooks: ["postgres-xid-wraparound-freeze"],
  },
  {
    id: "slow-query",
    category: "databases",
    symptom: "Queries are slow, often for a missing index.",
    signals: {
      alertnames: [
        ...from("postgres-mixin", "PostgreSQLSlowQueries"),
        ...from("awesome-prometheus-alerts", "PostgresqlSlowQueries", "PostgresqlHighRateStatementTimeout"),
        ...from("pgmonitor", "PGQueryTime"),
      ],
      labelHints: [{ label: "datname" }],
      textPatterns: [/\bslow quer(y|ies)\b/i, /\bstatement[ _]timeouts?\b/i, /\bmissing index\b/i, /\bsequential scans?\b/i, /\blong[- ]running (queries|query|transactions?)\b/i],
    },
    defences: ["pg_stat_statements reviewed after each release", "statement_timeout per role", "indexes checked in migration review"],
    playbooks: ["postgres-cancel-blocker"],
  },
  {
    id: "db-pooler-unreachable",
    category: "databases",
    symptom: "The pooler endpoint is down while the direct endpoint is up.",
    signals: {
      alertnames: [],
      labelHints: [{ label: "job", value: /pgbouncer|pooler/ }],
      textPatterns: [
        /\b(pgbouncer|pooler|pgcat|odyssey|supavisor)\b[^\n]{0,60}\b(down|unreachable|refused|timed? ?out|not responding|unavailable)\b/i,
        /\bconnection refused\b.*\b(pgbouncer|pooler)\b/i,
        /\b:6432\b[^\n]{0,60}\b(refused|timed? ?out)\b/i,
      ],
    },
    defences: ["two pooler replicas behind a Service", "a documented switch to the direct endpoint", "pooler health in the readiness path"],
    playbooks: ["db-pooler-failover"],
  },
];

export const caches: readonly FailureMode[] = [
  {
    id: "redis-down",
    category: "caches",
    symptom: "Redis is unreachable.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "RedisDown", "RedisMissingMaster")],
      labelHints: [],
      textPatterns: [/\bredis\b[^\n]{0,40}\b(is )?(down|unreachable|not reachable)\b/i, /\b(ECONNREFUSED|connection refused)\b[^\n]{0,40}:6379\b/i, /\bcould not connect to redis\b/i],
    },
    defences: ["Sentinel or cluster failover", "clients that degrade without the cache"],
    playbooks: [],
  },
  {
    id: "redis-maxmemory",
    category: "caches",
    symptom: "Redis is at maxmemory: writes are refused (\"OOM command not allowed\") or keys are evicted.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "RedisOutOfConfiguredMaxmemory", "RedisOutOfMemory")],
      labelHints: [],
      textPatterns: [/\bOOM command not allowed\b/i, /\bused memory > 'maxmemory'/i, /\bmaxmemory\b/i, /\bredis\b[^\n]{0,30}\bevict(ing|ions?)\b/i],
    },
    defences: ["an eviction policy that fits the data (allkeys-lru for caches)", "TTLs on every cache key", "alert at 80% of maxmemory"],
    playbooks: ["redis-big-keys", "redis-maxmemory-policy"],
  },
  {
    id: "redis-host-memory",
    category: "caches",
    symptom: "Redis uses nearly all of the host's memory.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "RedisOutOfSystemMemory")],
      labelHints: [],
      textPatterns: [/\bredis\b[^\n]{0,40}\b(out of|running out of) system memory\b/i],
    },
    defences: ["maxmemory set below the host's memory", "fork headroom for persistence"],
    playbooks: ["redis-big-keys"],
  },
  {
    id: "redis-connections",
    category: "caches",
    symptom: "Redis is near or at maxclients; connections are rejected.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "RedisTooManyConnections", "RedisRejectedConnections")],
      labelHints: [],
      textPatterns: [
        /\bmax number of clients reached\b/i,
        /\bmaxclients\b/i,
        /\bredis\b[^\n]{0,40}\b(too many connections|rejected connections?)\b/i,
        /\bconnections to redis (has|have) been rejected\b/i,
      ],
    },
    defences: ["client pools with a maximum", "timeout for idle clients", "alert on connected_clients vs maxclients"],
    playbooks: ["redis-kill-idle-clients"],
  },
  {
    id: "cache-stampede",
    category: "caches",
    symptom: "A hot key expires and the origin is flooded.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [/\bcache stampede\b/i, /\bthundering herd\b/i, /\bdog-?pil(e|ing)\b/i, /\bcache miss(es)? (rate|ratio|storm|spike)\b/i],
    },
    defences: ["request coalescing", "jittered TTLs", "early refresh of hot keys"],
    playbooks: [],
  },
  {
    id: "hot-key",
    category: "caches",
    symptom: "One key or shard takes most of the traffic.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [/\bhot ?keys?\b/i, /\bhot shard\b/i, /\b(one|single) (key|shard)\b[^\n]{0,40}\b(most|majority) of (the )?(traffic|load|requests)\b/i],
    },
    defences: ["key sharding or local caching of hot keys", "per-key metrics"],
    playbooks: ["redis-big-keys"],
  },
  {
    id: "stale-cache",
    category: "caches",
    symptom: "Stale data is served after a change that forgot to invalidate a key.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [
        /\bstale (cache|data|entr(y|ies)|values?|keys?)\b/i,
        /\bcache\b[^\n]{0,20}\b(was )?not invalidated\b/i,
        /\bmissed (cache )?invalidation\b/i,
        /\b(forgot|forgotten|failed) to invalidate\b/i,
      ],
    },
    defences: ["invalidation in the same code path as the write", "TTLs as a backstop", "versioned cache keys"],
    playbooks: ["stale-cache-flush-user"],
  },
];
