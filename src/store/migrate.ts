import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BelayError } from "../errors.ts";
import type { Db } from "./driver.ts";

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "migrations");

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f.slice(5, -4), sql: readFileSync(join(dir, f), "utf8") }));
}

/**
 * Applies the numbered migrations not yet applied, each in its own transaction, under the
 * migration lock so several processes starting together apply each one exactly once.
 */
export async function migrate(db: Db, migrations = readMigrations()): Promise<number[]> {
  return db.withMigrationLock(async (conn) => {
    await conn.query(
      `CREATE TABLE IF NOT EXISTS belay_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set((await conn.query<{ version: number }>("SELECT version FROM belay_migrations")).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      try {
        await conn.query("BEGIN");
        await conn.exec(m.sql);
        await conn.query("INSERT INTO belay_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
        await conn.query("COMMIT");
      } catch (err) {
        await conn.query("ROLLBACK").catch(() => {});
        throw new BelayError("migration.failed", `migration ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m.version);
    }
    return applied;
  });
}
