import type { Queryable } from "../store/driver.ts";
import { UsageError } from "./io.ts";

/** The shortest prefix accepted for an id or a hash: shorter ones match too much by chance. */
export const MIN_PREFIX = 7;

const TABLES = { run: "runs", incident: "incidents", "drill run": "drill_runs" } as const;

/**
 * The whole id a person typed part of: the id itself, or the one id starting with a prefix of
 * 7+ characters. An ambiguous prefix is refused naming the candidates. Null: no such id.
 */
export async function resolveId(db: Queryable, kind: keyof typeof TABLES, ref: string): Promise<string | null> {
  const table = TABLES[kind];
  const exact = await db.query<{ id: string }>(`SELECT id FROM ${table} WHERE id = $1`, [ref]);
  if (exact.rows.length > 0) return ref;
  if (ref.length < MIN_PREFIX) return null;
  // LIKE with the prefix escaped: an id holds letters, digits and _, and _ is LIKE's wildcard.
  const pattern = `${ref.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const r = await db.query<{ id: string }>(`SELECT id FROM ${table} WHERE id LIKE $1 ESCAPE '\\' ORDER BY id LIMIT 6`, [pattern]);
  if (r.rows.length <= 1) return r.rows[0]?.id ?? null;
  throw new UsageError(`${kind} "${ref}" is ambiguous: it starts ${r.rows.length > 5 ? "more than 5 ids" : `${r.rows.length} ids`} (${r.rows.slice(0, 5).map((x) => x.id).join(", ")}); type more of it`);
}

/**
 * The plan hash a person named: the whole hash, or a prefix of 7+ hex characters of the
 * current one. Anything else is returned as typed, so the engine refuses it as stale.
 */
export function resolvePlanHash(current: string, ref: string): string {
  const r = ref.toLowerCase();
  if (r.length >= MIN_PREFIX && current.startsWith(r)) return current;
  if (r.length < MIN_PREFIX && current.startsWith(r)) throw new UsageError(`--plan ${ref}: give at least ${MIN_PREFIX} characters of the plan hash`);
  return r;
}
