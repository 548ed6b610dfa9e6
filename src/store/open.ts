import { prepareDataDir } from "./data-dir.ts";
import type { Db } from "./driver.ts";
import { migrate } from "./migrate.ts";
import { probePostgres } from "./pg-connect.ts";
import { openPg } from "./pg.ts";
import { openPglite } from "./pglite.ts";

/** Postgres when a URL is given, else PGlite in dataDir. Migrated before it is returned. */
export async function openStore(opts: { databaseUrl?: string; dataDir: string; command?: string }): Promise<Db> {
  // Set-up mistakes are said in one line before anything can hang: a URL that reaches no
  // Postgres, a data directory that cannot be one.
  if (opts.databaseUrl) await probePostgres(opts.databaseUrl);
  const db = opts.databaseUrl ? openPg(opts.databaseUrl) : await openPglite(prepareDataDir(opts.dataDir), { command: opts.command });
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}
