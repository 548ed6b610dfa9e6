import type { PgBackend, PgBackendFilter, PgLockNode, PgLockTree } from "./types.ts";

/**
 * SQL for the Postgres target, and the pure shaping of its rows. Every value from outside
 * is a bind parameter; the one identifier that cannot be (VACUUM's table) is quoted by
 * the caller with escapeIdentifier.
 */

/** Client backends other than belay's own session. Ages in seconds as float8 so pg returns numbers. */
export const BACKEND_COLUMNS = `
  a.pid, a.usename as user, a.datname as database, coalesce(a.application_name, '') as application,
  a.client_addr::text as client_addr, a.state,
  case when a.wait_event is null then null else a.wait_event_type || ':' || a.wait_event end as wait_event,
  extract(epoch from clock_timestamp() - a.xact_start)::float8 as xact_age,
  extract(epoch from clock_timestamp() - a.query_start)::float8 as query_age,
  extract(epoch from clock_timestamp() - a.state_change)::float8 as state_age,
  left(coalesce(a.query, ''), 500) as query`;

export const CLIENT_BACKENDS = `a.backend_type = 'client backend' and a.pid <> pg_backend_pid()`;

export interface BackendRow {
  pid: number;
  user: string | null;
  database: string | null;
  application: string;
  client_addr: string | null;
  state: string | null;
  wait_event: string | null;
  xact_age: number | null;
  query_age: number | null;
  state_age: number | null;
  query: string;
}

const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);

export function toBackend(r: BackendRow): PgBackend {
  return {
    pid: r.pid,
    user: r.user,
    database: r.database,
    application: r.application,
    clientAddr: r.client_addr,
    state: r.state,
    waitEvent: r.wait_event,
    xactAgeSec: round(r.xact_age),
    queryAgeSec: round(r.query_age),
    stateAgeSec: round(r.state_age),
    query: r.query,
  };
}

/** WHERE clauses and parameters for a backend filter. Throws on a filter that would select everyone. */
export function backendFilterSql(f: PgBackendFilter): { where: string; params: unknown[]; limit: number } {
  const clauses = [CLIENT_BACKENDS];
  const params: unknown[] = [];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(sql(`$${params.length}`));
  };
  if (f.pids === undefined && f.state === undefined && f.olderThanSec === undefined && !f.blockingOthers) {
    throw new Error("a backend filter needs pids, state, olderThanSec or blockingOthers; refusing to signal every session");
  }
  if (f.pids !== undefined) add((p) => `a.pid = any(${p}::int[])`, [...f.pids]);
  if (f.state !== undefined) add((p) => `a.state = ${p}`, f.state);
  if (f.olderThanSec !== undefined) {
    add((p) => `coalesce(a.xact_start, a.query_start) < clock_timestamp() - make_interval(secs => ${p}::float8)`, f.olderThanSec);
  }
  if (f.user !== undefined) add((p) => `a.usename = ${p}`, f.user);
  if (f.application !== undefined) add((p) => `a.application_name = ${p}`, f.application);
  if (f.database !== undefined) add((p) => `a.datname = ${p}`, f.database);
  if (f.blockingOthers) {
    clauses.push(`exists (select 1 from pg_stat_activity w where a.pid = any(pg_blocking_pids(w.pid)))`);
  }
  return { where: clauses.join(" and "), params, limit: Math.max(1, Math.min(f.max ?? 100, 1000)) };
}

/** One line per backend, for previews: `pid 4242 alice@app (psql) idle in transaction 312s: update ...`. */
export function describeBackend(b: PgBackend): string {
  const age = b.xactAgeSec ?? b.queryAgeSec;
  const q = b.query.replace(/\s+/g, " ").slice(0, 120);
  return `pid ${b.pid} ${b.user ?? "?"}@${b.database ?? "?"} (${b.application || "-"}) ${b.state ?? "?"} ${age === null ? "" : `${Math.round(age)}s`}: ${q}`;
}

/** The blocking-lock tree from each backend's pg_blocking_pids. */
export function buildLockTree(rows: readonly (PgBackend & { blockedBy: readonly number[] })[]): PgLockTree {
  const blocking = new Map<number, number[]>();
  for (const r of rows) for (const b of r.blockedBy) (blocking.get(b) ?? blocking.set(b, []).get(b)!).push(r.pid);
  const involved = rows.filter((r) => r.blockedBy.length > 0 || blocking.has(r.pid));
  const total = (pid: number): number => {
    const seen = new Set<number>();
    const stack = [...(blocking.get(pid) ?? [])];
    while (stack.length) {
      const p = stack.pop()!;
      if (seen.has(p) || p === pid) continue;
      seen.add(p);
      stack.push(...(blocking.get(p) ?? []));
    }
    return seen.size;
  };
  const nodes: PgLockNode[] = involved.map((r) => ({ ...r, blocking: blocking.get(r.pid) ?? [], blockingTotal: total(r.pid) }));
  nodes.sort((a, b) => b.blockingTotal - a.blockingTotal || a.pid - b.pid);
  return { roots: nodes.filter((n) => n.blockedBy.length === 0 && n.blocking.length > 0).map((n) => n.pid), nodes };
}

/** `schema.table` or `table` (public) -> parts. Quoting is left to escapeIdentifier. */
export function splitTableName(table: string): { schema: string; table: string } {
  const i = table.indexOf(".");
  if (!table.trim()) throw new Error("empty table name");
  return i < 0 ? { schema: "public", table } : { schema: table.slice(0, i), table: table.slice(i + 1) };
}
