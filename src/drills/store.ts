import { redact, redactText } from "../audit/redact.ts";
import type { Queryable } from "../store/driver.ts";

export type DrillRunStatus = "running" | "undoing" | "passed" | "failed" | "aborted" | "crashed";

/** One injection's durable undo record. */
export interface UndoEntry {
  name: string;
  state: unknown;
  /** The injection was started (it may have changed the target). */
  injected: boolean;
  undone: boolean;
  error?: string | null;
}

export interface DrillRunRecord {
  id: string;
  drillId: string;
  mode: "live" | "rehearsal";
  target: string;
  status: DrillRunStatus;
  statusReason: string | null;
  undo: UndoEntry[];
  abortRequested: string | null;
  incidentId: string | null;
  runId: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  startedBy: string;
  report: Record<string, unknown> | null;
  startedAt: Date;
  finishedAt: Date | null;
}

interface Row {
  id: string;
  drill_id: string;
  mode: "live" | "rehearsal";
  target: string;
  status: DrillRunStatus;
  status_reason: string | null;
  undo: UndoEntry[] | string;
  abort_requested: string | null;
  incident_id: string | null;
  run_id: string | null;
  lease_owner: string | null;
  lease_expires_at: Date | string | null;
  started_by: string;
  report: Record<string, unknown> | string | null;
  started_at: Date | string;
  finished_at: Date | string | null;
}

const date = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));
const json = <T>(v: T | string): T => (typeof v === "string" ? (JSON.parse(v) as T) : v);

function toRecord(r: Row): DrillRunRecord {
  return {
    id: r.id,
    drillId: r.drill_id,
    mode: r.mode,
    target: r.target,
    status: r.status,
    statusReason: r.status_reason,
    undo: json(r.undo),
    abortRequested: r.abort_requested,
    incidentId: r.incident_id,
    runId: r.run_id,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: date(r.lease_expires_at),
    startedBy: r.started_by,
    report: r.report === null ? null : json(r.report),
    startedAt: date(r.started_at)!,
    finishedAt: date(r.finished_at),
  };
}

/*
 * Leases are judged on the database's clock (now()), never a process's: a process whose clock
 * runs behind would otherwise write a lease that has already lapsed (and another belay would
 * undo a live drill under it), one whose clock runs ahead a lease that outlives its death.
 */
const LEASE_UNTIL = (param: string) => `now() + (${param}::double precision * interval '1 millisecond')`;

export async function insertDrillRun(
  db: Queryable,
  r: { id: string; drillId: string; mode: string; target: string; startedBy: string; owner: string; leaseMs: number; now: Date },
): Promise<void> {
  await db.query(
    `INSERT INTO drill_runs (id, drill_id, mode, target, status, started_by, lease_owner, lease_expires_at, started_at)
     VALUES ($1, $2, $3, $4, 'running', $5, $6, ${LEASE_UNTIL("$7")}, $8)`,
    [r.id, r.drillId, r.mode, r.target, r.startedBy, r.owner, r.leaseMs, r.now],
  );
}

export async function getDrillRun(db: Queryable, id: string): Promise<DrillRunRecord | null> {
  const r = await db.query<Row>(`SELECT * FROM drill_runs WHERE id = $1`, [id]);
  return r.rows[0] ? toRecord(r.rows[0]) : null;
}

/** The undo records, written before each injection runs and after each undo. */
export async function saveUndo(db: Queryable, id: string, undo: readonly UndoEntry[]): Promise<void> {
  await db.query(`UPDATE drill_runs SET undo = $2::jsonb WHERE id = $1`, [id, JSON.stringify(undo)]);
}

export async function setDrillLinks(db: Queryable, id: string, links: { incidentId?: string | null; runId?: string | null }): Promise<void> {
  await db.query(`UPDATE drill_runs SET incident_id = COALESCE($2, incident_id), run_id = COALESCE($3, run_id) WHERE id = $1`, [id, links.incidentId ?? null, links.runId ?? null]);
}

/**
 * Renews the lease for `leaseMs` more; returns the abort request, if someone made one. Null:
 * the lease is lost (another process took the drill over, or it has ended), so the drill must stop and undo.
 */
export async function renewDrillLease(db: Queryable, id: string, owner: string, leaseMs: number): Promise<{ abortRequested: string | null } | null> {
  // Only the owner renews: once another belay claimed the drill (to undo it), this returns no row.
  const r = await db.query<{ abort_requested: string | null }>(
    `UPDATE drill_runs SET lease_expires_at = ${LEASE_UNTIL("$3")} WHERE id = $1 AND lease_owner = $2 RETURNING abort_requested`,
    [id, owner, leaseMs],
  );
  return r.rows[0] ? { abortRequested: r.rows[0].abort_requested } : null;
}

export async function setDrillStatus(db: Queryable, id: string, status: DrillRunStatus, reason: string | null, now: Date | null, report?: Record<string, unknown>): Promise<void> {
  await db.query(
    `UPDATE drill_runs SET status = $2, status_reason = $3, finished_at = $4, report = COALESCE($5::jsonb, report),
       lease_owner = CASE WHEN $4::timestamptz IS NULL THEN lease_owner END,
       lease_expires_at = CASE WHEN $4::timestamptz IS NULL THEN lease_expires_at END
     WHERE id = $1`,
    // What people read later is a store copy like any other: redacted (the undo state is not: it is what undo runs on).
    [id, status, reason === null ? null : redactText(reason), now, report === undefined ? null : JSON.stringify(redact(report))],
  );
}

/** Asks a running drill to stop; its runner undoes the injection on its next tick. */
export async function requestDrillAbort(db: Queryable, id: string | null, actor: string): Promise<DrillRunRecord[]> {
  const r = await db.query<Row>(
    `UPDATE drill_runs SET abort_requested = $2 WHERE status = 'running' AND abort_requested IS NULL AND ($1::text IS NULL OR id = $1) RETURNING *`,
    [id, actor],
  );
  return r.rows.map(toRecord);
}

/**
 * Drills whose process died holding an injection: still running or undoing, lease lapsed.
 * Claimed by taking the lease, so two processes never undo the same drill at once.
 */
export async function claimOrphanedDrills(db: Queryable, owner: string, leaseMs: number): Promise<DrillRunRecord[]> {
  // SKIP LOCKED: a drill being claimed (or its lease renewed) by another process right now is left to it.
  const r = await db.query<Row>(
    `UPDATE drill_runs SET lease_owner = $1, lease_expires_at = ${LEASE_UNTIL("$2")}, status = 'undoing'
     WHERE id IN (SELECT id FROM drill_runs WHERE status IN ('running', 'undoing') AND (lease_expires_at IS NULL OR lease_expires_at < now())
                  ORDER BY started_at FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [owner, leaseMs],
  );
  return r.rows.map(toRecord);
}

export async function listDrillRuns(db: Queryable, opts: { drillId?: string; limit?: number } = {}): Promise<DrillRunRecord[]> {
  const r = await db.query<Row>(
    `SELECT * FROM drill_runs WHERE ($1::text IS NULL OR drill_id = $1) ORDER BY started_at DESC LIMIT $2`,
    [opts.drillId ?? null, opts.limit ?? 20],
  );
  return r.rows.map(toRecord);
}
