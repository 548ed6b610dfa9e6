import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { BelayError } from "../errors.ts";
import { Mutex, type Db, type Queryable, type QueryResult } from "./driver.ts";

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * PGlite does nothing to stop a second process opening the same directory, and two would
 * corrupt it. A lock file (created with O_EXCL) names the holder; a holder that died is
 * replaced, a live one is an error naming it.
 */
function takeDirLock(dir: string, command: string): () => void {
  const path = join(dir, "belay.lock");
  const me: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      return () => {
        try {
          const held = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
          if (held.pid === process.pid) rmSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let held: LockInfo | null = null;
      try {
        held = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
      } catch {
        held = null; // half-written or unreadable: treat as stale below
      }
      const sameHost = held?.host === me.host;
      if (held && sameHost && held.pid !== process.pid && isAlive(held.pid)) {
        throw new BelayError(
          "store.locked",
          `the embedded store ${dir} is in use by belay process ${held.pid} (${held.command}, started ${held.startedAt}). ` +
            `Stop that process, point BELAY_DATA_DIR at another directory, or set DATABASE_URL to share a Postgres between processes.`,
          { details: held },
        );
      }
      if (held && !sameHost) {
        throw new BelayError(
          "store.locked",
          `the embedded store ${dir} is locked by process ${held.pid} on host ${held.host}; if that host is gone, delete ${path}.`,
          { details: held },
        );
      }
      rmSync(path, { force: true }); // the holder died: take over
    }
  }
  throw new BelayError("store.locked", `could not lock the embedded store ${dir}; another belay is starting at the same moment`);
}

export async function openPglite(dataDir: string | null, opts: { command?: string } = {}): Promise<Db> {
  const { PGlite } = await import("@electric-sql/pglite");
  let release = () => {};
  let dir: string | undefined;
  if (dataDir !== null) {
    dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    release = takeDirLock(dir, opts.command ?? process.argv.slice(1).join(" "));
  }
  let pglite: InstanceType<typeof PGlite>;
  try {
    pglite = new PGlite({
      ...(dir ? { dataDir: join(dir, "pgdata") } : {}),
      parsers: { 20: (v: string) => Number(v) },
    });
    await pglite.waitReady;
  } catch (err) {
    release();
    throw err;
  }
  // One session: every top-level query and transaction takes a turn, so one caller's
  // statements never land inside another's transaction.
  const mutex = new Mutex();
  const direct: Queryable = {
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await pglite.query<T>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
  };
  return {
    kind: "pglite",
    query: (sql, params) => mutex.run(() => direct.query(sql, params)),
    transaction: (fn) =>
      mutex.run(async () => {
        await pglite.exec("BEGIN");
        try {
          const result = await fn(direct);
          await pglite.exec("COMMIT");
          return result;
        } catch (err) {
          await pglite.exec("ROLLBACK").catch(() => {});
          throw err;
        }
      }),
    withMigrationLock: (fn) =>
      mutex.run(() =>
        fn({
          ...direct,
          exec: async (sql: string) => {
            await pglite.exec(sql);
          },
        }),
      ),
    async close() {
      await mutex.run(() => pglite.close());
      release();
    },
  };
}
