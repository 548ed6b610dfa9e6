import pg from "pg";
import type { Db, Executor, Queryable, QueryResult } from "./driver.ts";
import { describePgConnectError } from "./pg-connect.ts";

/** A stable key for pg_advisory_lock: "belay" + "migrate" folded into a bigint. */
const MIGRATION_LOCK_KEY = 0x62656c61796d6967n;

// int8 (counts, bigserial) as numbers: belay's counters never approach 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as "text");
  },
};

function wrapConnectError(err: unknown, url: string): never {
  throw describePgConnectError(err, url) ?? err;
}

/**
 * How long the store waits on Postgres. A database that stops answering (a partition, a
 * failover) sends no error: without these a query, or a wait for a pooled connection, hangs
 * for ever. Generous enough for a migration step or a 10k-event page of `belay audit verify`.
 */
export const PG_TIMEOUTS = {
  /** Connecting (and waiting for a free pooled connection). */
  connectMs: 10_000,
  /** One statement, on the server (statement_timeout) and on the client (query_timeout: a server that is gone cannot cancel). */
  queryMs: 60_000,
  /** TCP keepalive: a dead peer is noticed by the kernel, not only by a timeout. */
  keepAliveDelayMs: 10_000,
} as const;

export interface PgOptions {
  max?: number;
  applicationName?: string;
  /** Overrides PG_TIMEOUTS.connectMs. */
  connectTimeoutMs?: number;
  /** Overrides PG_TIMEOUTS.queryMs. */
  queryTimeoutMs?: number;
}

export function openPg(url: string, opts: PgOptions = {}): Db {
  const queryMs = opts.queryTimeoutMs ?? PG_TIMEOUTS.queryMs;
  const connection = {
    connectionString: url,
    types,
    application_name: opts.applicationName ?? "belay",
    connectionTimeoutMillis: opts.connectTimeoutMs ?? PG_TIMEOUTS.connectMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: PG_TIMEOUTS.keepAliveDelayMs,
  };
  const pool = new pg.Pool({
    ...connection,
    max: opts.max ?? 10,
    statement_timeout: queryMs,
    // The client-side bound sits a little past the server's, so a live server's own
    // cancellation (a clear SQL error) wins; a silent one is given up on anyway.
    query_timeout: queryMs + 5_000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", () => {});

  const query = async <T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> => {
    try {
      const r = await pool.query(sql, params as unknown[]);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      return wrapConnectError(err, url);
    }
  };

  return {
    kind: "pg",
    query,
    async transaction(fn) {
      const client = await pool.connect().catch((err: unknown) => wrapConnectError(err, url));
      const tx: Queryable = {
        async query<T>(sql: string, params?: readonly unknown[]) {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
        },
      };
      try {
        await client.query("BEGIN");
        const result = await fn(tx);
        await client.query("COMMIT");
        client.release();
        return result;
      } catch (err) {
        let broken = false;
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        // A connection that cannot even roll back is destroyed rather than returned to the pool.
        client.release(broken ? (err instanceof Error ? err : new Error(String(err))) : undefined);
        throw err;
      }
    },
    async withMigrationLock(fn) {
      // A connection of its own, without statement timeouts: a migration step may be slow,
      // and pg_advisory_lock waits for as long as another replica is migrating.
      const client = new pg.Client({ ...connection, statement_timeout: 0 });
      client.on("error", () => {});
      await client.connect().catch((err: unknown) => wrapConnectError(err, url));
      const db: Executor = {
        async query<T>(sql: string, params?: readonly unknown[]) {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
        },
        async exec(sql: string) {
          await client.query(sql); // no params: the simple protocol, which takes several statements
        },
      };
      try {
        // Session-level advisory lock: replicas starting together migrate one at a time.
        await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
        return await fn(db);
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]).catch(() => {});
        await client.end().catch(() => {});
      }
    },
    async close() {
      await pool.end();
    },
  };
}
