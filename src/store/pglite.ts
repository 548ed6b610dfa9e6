import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { setFlagsFromString } from "node:v8";
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

/*
 * Memory. PGlite's defaults cost about 300 MB of resident memory in a process that only
 * serves webhooks, and the first start (initdb) peaks near 900 MB. Measured (bench/memory.ts,
 * README "Benchmarks"), the parts were:
 * - shared_buffers = 128MB, which PGlite's single-user backend touches at start: 16MB holds
 *   belay's working set (a small inbox, incidents, runs, audit) and saves ~130 MB;
 * - V8 tiering the 9 MB pglite.wasm up from Liftoff to TurboFan, which keeps both codes
 *   (~70 MB) and burns a core compiling; Liftoff alone also ran belay's queries faster here;
 * - initdb, which runs a second PGlite and initdb.wasm in the same process and leaves the
 *   process's high-water mark (and, until GC, its RSS) there: it runs in a short-lived
 *   child process instead, so the serving process opens an existing directory.
 */

/** The backend's start parameters: PGlite's own defaults, plus the memory settings above. */
export const PGLITE_START_PARAMS: readonly string[] = [
  "--single", "-F", "-O", "-j",
  "-c", "search_path=public",
  "-c", "exit_on_error=false",
  "-c", "log_checkpoints=false",
  "-c", "max_worker_processes=0",
  "-c", "max_parallel_workers=0",
  "-c", "max_parallel_workers_per_gather=0",
  "-c", "io_method=sync",
  "-c", "max_parallel_maintenance_workers=0",
  "-c", "shared_buffers=16MB",
  "-c", "maintenance_work_mem=16MB",
];

/** The V8 flag for WebAssembly: compile pglite.wasm once with Liftoff, never tier up. */
export const PGLITE_V8_FLAGS = "--liftoff-only";

/**
 * initdb for a fresh data directory, in a child process that exits when it is done. The
 * child gets the same start parameters and V8 flag, so its own peak stays low too (a
 * container's memory limit counts it). Nothing to do when the directory exists already.
 */
export function initdbInChild(pgdata: string): void {
  if (existsSync(join(pgdata, "PG_VERSION"))) return;
  const moduleUrl = import.meta.resolve("@electric-sql/pglite");
  const script = [
    "const [url, dataDir, params] = process.argv.slice(1);",
    "const { PGlite } = await import(url);",
    "const db = new PGlite({ dataDir, startParams: JSON.parse(params) });",
    "await db.waitReady;",
    "await db.close();",
  ].join("\n");
  const r = spawnSync(
    process.execPath,
    [PGLITE_V8_FLAGS, "--input-type=module", "-e", script, moduleUrl, pgdata, JSON.stringify(PGLITE_START_PARAMS)],
    { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 120_000 },
  );
  if (r.status !== 0 || !existsSync(join(pgdata, "PG_VERSION"))) {
    const why = r.error ? r.error.message : (r.stderr ?? "").trim().split("\n").slice(-1)[0] || `exit ${r.status ?? r.signal}`;
    throw new BelayError("store.unavailable", `could not create the embedded store in ${pgdata} (${why}). Check the directory is writable, or set DATABASE_URL to use Postgres.`);
  }
}

export async function openPglite(dataDir: string | null, opts: { command?: string } = {}): Promise<Db> {
  // Before the first compile of pglite.wasm: V8 reads the flag when it compiles a module.
  setFlagsFromString(PGLITE_V8_FLAGS);
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
    if (dir) initdbInChild(join(dir, "pgdata"));
    pglite = new PGlite({
      ...(dir ? { dataDir: join(dir, "pgdata") } : {}),
      startParams: [...PGLITE_START_PARAMS],
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
