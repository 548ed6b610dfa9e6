import { randomBytes } from "node:crypto";
import type { Db } from "../../src/store/driver.ts";
import { migrate } from "../../src/store/migrate.ts";
import { openPg } from "../../src/store/pg.ts";
import { openPglite } from "../../src/store/pglite.ts";

/** The machine's Postgres (trust auth on loopback); CI's .ci/run makes sure it is up. */
export const PG_ADMIN_URL = process.env.BELAY_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export function pgUrl(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh database per test file, dropped afterwards. */
export async function freshPgDatabase(label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `belay_t_${label.replace(/[^a-z0-9]/g, "_")}_${randomBytes(4).toString("hex")}`;
  const admin = openPg(PG_ADMIN_URL, { max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.close();
  return {
    url: pgUrl(name),
    drop: async () => {
      const a = openPg(PG_ADMIN_URL, { max: 1 });
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.close();
    },
  };
}

export interface TestStore {
  kind: "pg" | "pglite";
  db: Db;
  url: string | null;
  close: () => Promise<void>;
}

/** A migrated store of the given kind, empty, for one test file. */
export async function openTestStore(kind: "pg" | "pglite", label: string): Promise<TestStore> {
  if (kind === "pglite") {
    const db = await openPglite(null);
    await migrate(db);
    return { kind, db, url: null, close: () => db.close() };
  }
  const fresh = await freshPgDatabase(label);
  const db = openPg(fresh.url);
  await migrate(db);
  return {
    kind,
    db,
    url: fresh.url,
    close: async () => {
      await db.close();
      await fresh.drop();
    },
  };
}
