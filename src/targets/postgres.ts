import pg from "pg";
import { BelayError } from "../errors.ts";
import {
  BACKEND_COLUMNS,
  CLIENT_BACKENDS,
  backendFilterSql,
  buildLockTree,
  describeBackend,
  splitTableName,
  toBackend,
  type BackendRow,
} from "./postgres-sql.ts";
import type { MutateOptions, PgBackendFilter, PgCount, PgSignalResult, PostgresTarget, StandingConnection } from "./types.ts";
import { createLane } from "./lane.ts";
import { stepSignal } from "./step-signal.ts";

export interface PostgresTargetDeps {
  logger?: { warn(obj: object, msg: string): void };
}

const WRAPAROUND = 2 ** 31;

/**
 * A Postgres target over a small pool (two sessions), opened on first use. Diagnostics are
 * read-only catalog queries; signals and VACUUM re-evaluate their filter at run time, so
 * what runs is what the filter selects then, never a stale pid list.
 */
export function createPostgresTarget(name: string, url: string, deps: PostgresTargetDeps = {}): PostgresTarget & StandingConnection & { close(): Promise<void> } {
  let pool: pg.Pool | null = null;
  // The standing session while an incident about this target is open: at max_connections a new one is refused, this one keeps working.
  let held: pg.PoolClient | null = null;
  const db = (): pg.Pool => {
    if (!pool) {
      pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5_000, application_name: "belay" });
      // An idle pooled session can die (a failover, someone terminating it); pg emits, and an unheard 'error' would crash the process.
      pool.on("error", (err) => deps.logger?.warn({ err, target: name }, "postgres target: idle session failed"));
    }
    return pool;
  };
  // Concurrent steps share the standing session: one query at a time on it, so a cancel aimed at its pid hits only the aborted step's own query.
  const heldLane = createLane();

  /** pg_cancel_backend from a session of its own (a full pool cannot hold the cancel up); settles once it was sent or failed. */
  const cancelBackend = async (pid: number): Promise<void> => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: "belay-cancel" });
    c.on("error", () => undefined); // a failure is the connect's or the query's rejection, logged below
    try {
      await c.connect();
      await c.query("select pg_cancel_backend($1)", [pid]);
    } catch (err) {
      deps.logger?.warn({ err, target: name }, "postgres target: could not cancel an aborted step's query");
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  /**
   * One query on a session this call has to itself. When the step aborts while it runs, the
   * query is cancelled on the server and the call rejects with the abort's reason; the session
   * is handed back only after the cancel was sent, so the cancel cannot land on the next query.
   */
  async function runOn<R extends pg.QueryResultRow>(client: pg.ClientBase, sql: string, params: unknown[], signal: AbortSignal | undefined): Promise<R[]> {
    if (!signal) return (await client.query<R>(sql, params)).rows;
    signal.throwIfAborted(); // the last look before the statement is sent: an aborted step's query never is
    const pid = (client as unknown as { processID: number }).processID;
    let cancelling: Promise<void> | null = null;
    const cancel = () => void (cancelling = cancelBackend(pid));
    signal.addEventListener("abort", cancel, { once: true });
    try {
      return (await client.query<R>(sql, params)).rows;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw err;
    } finally {
      signal.removeEventListener("abort", cancel);
      if (cancelling) await cancelling;
    }
  }

  /** A pooled session, unless the step aborts first: one that arrives after the abort goes back unused. */
  function connect(signal: AbortSignal): Promise<pg.PoolClient> {
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      // Listening before dialling: an abort while the pool connects is heard.
      signal.addEventListener("abort", onAbort, { once: true });
      db()
        .connect()
        .then(
          (c) => {
            signal.removeEventListener("abort", onAbort);
            if (!signal.aborted) return resolve(c);
            c.release();
            reject(signal.reason);
          },
          (err: unknown) => {
            signal.removeEventListener("abort", onAbort);
            reject(err);
          },
        );
    });
  }

  async function pooled<R extends pg.QueryResultRow>(sql: string, params: unknown[], signal: AbortSignal | undefined): Promise<R[]> {
    if (!signal) return (await db().query<R>(sql, params)).rows;
    const client = await connect(signal);
    try {
      return await runOn<R>(client, sql, params, signal);
    } finally {
      client.release();
    }
  }

  /**
   * Runs a query; when the step running it is aborted (timed out, lease lost) it is never sent,
   * or if already running is cancelled on the server, and the call rejects with the abort's reason.
   * While an incident holds the standing session (the target may be at its connection limit),
   * queries run there, one at a time; a step aborted while its query waits its turn is dropped.
   */
  const q = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> => {
    const signal = stepSignal();
    signal?.throwIfAborted();
    if (!held) return pooled<R>(sql, params, signal);
    return heldLane.run(signal, () => (held ? runOn<R>(held, sql, params, signal) : pooled<R>(sql, params, signal)));
  };

  async function hold(): Promise<void> {
    if (held) {
      const c = held;
      // Keeps it alive; a dead one is dropped by its error handler and taken again next time.
      await heldLane.run(undefined, () => c.query("select 1"));
      return;
    }
    const c = await db().connect();
    c.on("error", (err) => {
      deps.logger?.warn({ err, target: name }, `postgres target ${name}: standing session failed`);
      if (held === c) held = null;
      c.release(err);
    });
    held = c;
  }

  /** Gives the standing session back once the query running on it (if any) is done. */
  async function release(): Promise<void> {
    const c = held;
    held = null;
    if (c) await heldLane.run(undefined, async () => c.release());
  }

  const counts = (col: string) =>
    q<{ key: string; count: number }>(
      `select coalesce(${col}::text, '(none)') as key, count(*)::int as count from pg_stat_activity a
       where a.backend_type = 'client backend' group by 1 order by 2 desc, 1 limit 50`,
    );

  async function signal(fn: "pg_cancel_backend" | "pg_terminate_backend", filter: PgBackendFilter, opts: MutateOptions): Promise<PgSignalResult> {
    let sql;
    try {
      sql = backendFilterSql(filter);
    } catch (err) {
      throw new BelayError("input.invalid", (err as Error).message);
    }
    const select = `select ${BACKEND_COLUMNS} from pg_stat_activity a where ${sql.where}
                    order by coalesce(a.xact_start, a.query_start) nulls last limit ${sql.limit}`;
    const rows = opts.dryRun
      ? await q<BackendRow & { ok: null }>(select, sql.params)
      : await q<BackendRow & { ok: boolean }>(`select b.*, ${fn}(b.pid) as ok from (${select}) b`, sql.params);
    const backends = rows.map(toBackend);
    const verb = fn === "pg_cancel_backend" ? "cancel" : "terminate";
    return {
      summary: `${verb} ${backends.length} backend${backends.length === 1 ? "" : "s"}${backends.length ? ": " + backends.map((b) => b.pid).join(", ") : ""}`,
      diff: backends.map(describeBackend).join("\n"),
      dryRun: !!opts.dryRun,
      backends,
      signalled: rows.filter((r) => r.ok === true).map((r) => r.pid),
    };
  }

  async function tableInfo(table: string | { readonly schema: string; readonly name: string }) {
    const parts = typeof table === "string" ? splitTableName(table) : { schema: table.schema, table: table.name };
    const rows = await q<{ name: string; age: number; size: number }>(
      `select format('%I.%I', n.nspname, c.relname) as name, age(c.relfrozenxid)::float8 as age, pg_total_relation_size(c.oid)::float8 as size
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'm', 't')`,
      [parts.schema, parts.table],
    );
    const row = rows[0];
    if (!row) throw new BelayError("input.invalid", `postgres ${name}: no table ${parts.schema}.${parts.table}`);
    return { ...parts, ...row };
  }

  const target: PostgresTarget & StandingConnection & { close(): Promise<void> } = {
    name,

    async connections() {
      const [settings] = await q<{ max: number; reserved: number }>(
        `select current_setting('max_connections')::int as max, current_setting('superuser_reserved_connections')::int as reserved`,
      );
      const byState = await counts("a.state");
      const byUser = await counts("a.usename");
      const byApplication = await counts("nullif(a.application_name, '')");
      const byDatabase = await counts("a.datname");
      const used = byState.reduce((n, r) => n + r.count, 0);
      const max = settings!.max;
      const reserved = settings!.reserved;
      const shape = (rows: PgCount[]) => rows.map((r) => ({ key: r.key, count: r.count }));
      return {
        max,
        reservedForSuperuser: reserved,
        used,
        usedRatio: used / Math.max(1, max - reserved),
        byState: shape(byState),
        byUser: shape(byUser),
        byApplication: shape(byApplication),
        byDatabase: shape(byDatabase),
      };
    },

    async idleInTransaction(opts = {}) {
      const rows = await q<BackendRow>(
        `select ${BACKEND_COLUMNS} from pg_stat_activity a
         where ${CLIENT_BACKENDS} and a.state in ('idle in transaction', 'idle in transaction (aborted)')
           and a.xact_start < clock_timestamp() - make_interval(secs => $1::float8)
         order by a.xact_start limit 100`,
        [opts.olderThanSec ?? 0],
      );
      return rows.map(toBackend);
    },

    async longRunningQueries(opts = {}) {
      const rows = await q<BackendRow>(
        `select ${BACKEND_COLUMNS} from pg_stat_activity a
         where ${CLIENT_BACKENDS} and a.state = 'active'
           and a.query_start < clock_timestamp() - make_interval(secs => $1::float8)
         order by a.query_start limit 100`,
        [opts.olderThanSec ?? 60],
      );
      return rows.map(toBackend);
    },

    async blockingTree() {
      const rows = await q<BackendRow & { blocked_by: number[] }>(
        `select ${BACKEND_COLUMNS}, pg_blocking_pids(a.pid) as blocked_by from pg_stat_activity a where ${CLIENT_BACKENDS}`,
      );
      return buildLockTree(rows.map((r) => ({ ...toBackend(r), blockedBy: r.blocked_by })));
    },

    async replication() {
      const [{ replica } = { replica: false }] = await q<{ replica: boolean }>(`select pg_is_in_recovery() as replica`);
      if (replica) {
        const [row] = await q<{ delay: number | null }>(`select extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp())::float8 as delay`);
        return { role: "replica" as const, replicas: [], replayDelaySec: row?.delay ?? null, slots: [] };
      }
      const replicas = await q<{ application: string; client_addr: string | null; state: string; sync_state: string; lag_bytes: number | null; write_lag: number | null; flush_lag: number | null; replay_lag: number | null }>(
        `select application_name as application, client_addr::text as client_addr, state, sync_state,
                pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 as lag_bytes,
                extract(epoch from write_lag)::float8 as write_lag, extract(epoch from flush_lag)::float8 as flush_lag,
                extract(epoch from replay_lag)::float8 as replay_lag
         from pg_stat_replication order by application_name`,
      );
      const slots = await q<{ name: string; active: boolean; retained: number | null }>(
        `select slot_name as name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 as retained from pg_replication_slots order by 1`,
      );
      return {
        role: "primary" as const,
        replicas: replicas.map((r) => ({
          application: r.application,
          clientAddr: r.client_addr,
          state: r.state,
          syncState: r.sync_state,
          lagBytes: r.lag_bytes,
          writeLagSec: r.write_lag,
          flushLagSec: r.flush_lag,
          replayLagSec: r.replay_lag,
        })),
        replayDelaySec: null,
        slots: slots.map((s) => ({ name: s.name, active: s.active, retainedBytes: s.retained })),
      };
    },

    async xidAge(opts = {}) {
      const dbs = await q<{ database: string; age: number }>(`select datname as database, age(datfrozenxid)::float8 as age from pg_database order by 2 desc`);
      const tables = await q<{ table: string; schema: string; name: string; age: number; size: number }>(
        `select format('%I.%I', n.nspname, c.relname) as table, n.nspname as schema, c.relname as name, age(c.relfrozenxid)::float8 as age, pg_total_relation_size(c.oid)::float8 as size
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'm', 't') order by age(c.relfrozenxid) desc limit $1`,
        [opts.tables ?? 10],
      );
      const [s] = await q<{ freeze: number }>(`select current_setting('autovacuum_freeze_max_age')::float8 as freeze`);
      return {
        databases: dbs.map((d) => ({ database: d.database, age: d.age, pctToWraparound: Math.round((d.age / WRAPAROUND) * 10_000) / 100 })),
        tables: tables.map((t) => ({ table: t.table, schema: t.schema, name: t.name, age: t.age, sizeBytes: t.size })),
        freezeMaxAge: s!.freeze,
      };
    },

    async autovacuum() {
      const [s] = await q<{ enabled: boolean; workers: number }>(
        `select current_setting('autovacuum') = 'on' as enabled, current_setting('autovacuum_max_workers')::int as workers`,
      );
      const running = await q<{ pid: number; table: string | null; phase: string | null; age: number | null }>(
        `select a.pid, p.relid::regclass::text as table, p.phase, extract(epoch from clock_timestamp() - a.xact_start)::float8 as age
         from pg_stat_activity a left join pg_stat_progress_vacuum p on p.pid = a.pid
         where a.backend_type = 'autovacuum worker' order by a.pid`,
      );
      const tables = await q<{ table: string; dead: number; live: number; last_autovacuum: Date | null; last_vacuum: Date | null }>(
        `select format('%I.%I', schemaname, relname) as table, n_dead_tup::float8 as dead, n_live_tup::float8 as live, last_autovacuum, last_vacuum
         from pg_stat_user_tables order by n_dead_tup desc, 1 limit 20`,
      );
      return {
        enabled: s!.enabled,
        maxWorkers: s!.workers,
        running: running.map((r) => ({ pid: r.pid, table: r.table, phase: r.phase, ageSec: r.age })),
        tables: tables.map((t) => ({
          table: t.table,
          deadTuples: t.dead,
          liveTuples: t.live,
          lastAutovacuum: t.last_autovacuum?.toISOString() ?? null,
          lastVacuum: t.last_vacuum?.toISOString() ?? null,
        })),
      };
    },

    cancelBackends: (filter, opts = {}) => signal("pg_cancel_backend", filter, opts),
    terminateBackends: (filter, opts = {}) => signal("pg_terminate_backend", filter, opts),

    async vacuumFreeze(table, opts = {}) {
      const before = await tableInfo(table);
      const ident = `${pg.escapeIdentifier(before.schema)}.${pg.escapeIdentifier(before.table)}`;
      let ageAfter: number | null = null;
      if (!opts.dryRun) {
        await q(`VACUUM (FREEZE) ${ident}`);
        ageAfter = (await tableInfo(table)).age;
      }
      return {
        summary: `VACUUM (FREEZE) ${before.name} (xid age ${before.age}, ${Math.round(before.size / 1024 / 1024)} MiB)`,
        diff: ageAfter === null ? undefined : `age(relfrozenxid): ${before.age} -> ${ageAfter}`,
        dryRun: !!opts.dryRun,
        table: before.name,
        ageBefore: before.age,
        sizeBytes: before.size,
        ageAfter,
      };
    },

    hold,
    release,

    async close() {
      await release();
      if (pool) {
        const p = pool;
        pool = null;
        await p.end();
      }
    },
  };
  return target;
}
