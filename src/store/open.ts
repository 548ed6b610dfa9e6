import type { Db } from "./driver.ts";
import { migrate } from "./migrate.ts";
import { openPg } from "./pg.ts";
import { openPglite } from "./pglite.ts";

/** Postgres when a URL is given, else PGlite in dataDir. Migrated before it is returned. */
export async function openStore(opts: { databaseUrl?: string; dataDir: string; command?: string }): Promise<Db> {
  const db = opts.databaseUrl ? openPg(opts.databaseUrl) : await openPglite(opts.dataDir, { command: opts.command });
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}
