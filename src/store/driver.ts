/**
 * The one seam between belay and its database. Two drivers plug in: `pg` (a pool against a
 * real Postgres) and PGlite (Postgres in WebAssembly, in-process). Same SQL for both.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
}

/** A connection that can also run a script of several statements (migrations). */
export interface Executor extends Queryable {
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: "pg" | "pglite";
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs fn while holding the migration lock (advisory lock on pg, in-process on PGlite). */
  withMigrationLock<T>(fn: (db: Executor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A tiny FIFO mutex: PGlite is one session, so its callers take turns. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
