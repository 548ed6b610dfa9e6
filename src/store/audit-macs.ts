import type { AuditRow } from "../audit/chain.ts";
import type { Queryable } from "./driver.ts";

/** Queries of the audit anchoring side table (migration 0008). */

export interface MacRow {
  seq: number;
  hash: string;
  mac: string;
}

const EVENT_COLUMNS = "e.seq, e.id, e.at, e.kind, e.actor, e.surface, e.run_id, e.incident_id, e.step, e.data, e.prev_hash, e.hash";

/** The newest signed event, or null when nothing is signed yet. */
export async function lastMac(db: Queryable): Promise<MacRow | null> {
  const r = await db.query<MacRow>("SELECT seq, hash, mac FROM audit_macs ORDER BY seq DESC LIMIT 1");
  return r.rows[0] ? { ...r.rows[0], seq: Number(r.rows[0].seq) } : null;
}

/** The MAC row just before `seq` (the one the MAC at `seq` chains from), or null. */
export async function macBefore(db: Queryable, seq: number): Promise<MacRow | null> {
  const r = await db.query<MacRow>("SELECT seq, hash, mac FROM audit_macs WHERE seq < $1 ORDER BY seq DESC LIMIT 1", [seq]);
  return r.rows[0] ? { ...r.rows[0], seq: Number(r.rows[0].seq) } : null;
}

/** MAC rows from `seq` on, each with the hash its event has now (null: the event is gone). */
export async function macsFrom(db: Queryable, seq: number, limit: number): Promise<(MacRow & { event_hash: string | null })[]> {
  const r = await db.query<MacRow & { event_hash: string | null }>(
    `SELECT m.seq, m.hash, m.mac, e.hash AS event_hash FROM audit_macs m LEFT JOIN audit_events e ON e.seq = m.seq
     WHERE m.seq >= $1 ORDER BY m.seq LIMIT $2`,
    [seq, limit],
  );
  return r.rows.map((row) => ({ ...row, seq: Number(row.seq) }));
}

/** Events after `seq`, in chain order. No lock: the rows read are committed and never change (a trigger refuses it). */
export async function eventsAfter(db: Queryable, seq: number, limit: number): Promise<AuditRow[]> {
  const r = await db.query<AuditRow>(`SELECT ${EVENT_COLUMNS} FROM audit_events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`, [seq, limit]);
  return r.rows.map((row) => ({ ...row, seq: Number(row.seq) }));
}

/**
 * Stores MACs. Two replicas signing the same events compute the same MACs (HMAC is
 * deterministic), so a conflict is the other one's identical row: skipped, not an error.
 */
export async function insertMacs(db: Queryable, macs: readonly MacRow[]): Promise<number> {
  if (macs.length === 0) return 0;
  const r = await db.query(
    `INSERT INTO audit_macs (seq, hash, mac)
     SELECT seq, hash, mac FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, hash text, mac text)
     ON CONFLICT (seq) DO NOTHING`,
    [JSON.stringify(macs)],
  );
  return r.rowCount ?? 0;
}

/** One page of events with their MAC row (null when unsigned), for verify. */
export interface EventMacRow {
  seq: number;
  id: string;
  at: string;
  kind: string;
  hash: string;
  mac_hash: string | null;
  mac: string | null;
}

export async function eventsWithMacs(db: Queryable, afterSeq: number, limit: number): Promise<EventMacRow[]> {
  const r = await db.query<EventMacRow>(
    `SELECT e.seq, e.id, e.at, e.kind, e.hash, m.hash AS mac_hash, m.mac
     FROM audit_events e LEFT JOIN audit_macs m ON m.seq = e.seq
     WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`,
    [afterSeq, limit],
  );
  return r.rows.map((row) => ({ ...row, seq: Number(row.seq) }));
}

/** MACs whose event is gone (events deleted, or the end of the chain cut off). */
export async function orphanMacs(db: Queryable, limit = 5): Promise<number[]> {
  const r = await db.query<{ seq: number }>(
    "SELECT m.seq FROM audit_macs m LEFT JOIN audit_events e ON e.seq = m.seq WHERE e.seq IS NULL ORDER BY m.seq LIMIT $1",
    [limit],
  );
  return r.rows.map((row) => Number(row.seq));
}

/** The chain's head as the head row records it. */
export async function auditHead(db: Queryable): Promise<{ seq: number; hash: string; events: number }> {
  const r = await db.query<{ seq: number | null; hash: string; events: number }>(
    "SELECT (SELECT max(seq) FROM audit_events) AS seq, hash, events FROM audit_head WHERE id = 1",
  );
  const row = r.rows[0]!;
  return { seq: Number(row.seq ?? 0), hash: row.hash, events: Number(row.events) };
}
