import type { Queryable } from "./driver.ts";
import type { Risk } from "../approve/policy.ts";
import type { StepKind } from "../sdk/types.ts";

export type RunStatus =
  | "pending"
  | "running"
  | "waiting"
  | "awaiting_approval"
  | "awaiting_decision"
  | "succeeded"
  | "failed"
  | "rolled_back"
  | "aborted"
  | "previewed";

export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "rolled_back", "aborted", "previewed"];

export type StepStatus =
  | "pending"
  | "awaiting_approval"
  | "running"
  | "verifying"
  | "rolling_back"
  | "succeeded"
  | "failed"
  | "skipped"
  | "rolled_back"
  | "uncertain"
  | "previewed";

export interface RunRecord {
  id: string;
  playbookId: string;
  playbookFingerprint: string;
  incidentId: string | null;
  requestedBy: string;
  surface: string;
  params: Record<string, unknown>;
  status: RunStatus;
  statusReason: string | null;
  dryRun: boolean;
  planHash: string;
  abortRequested: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  nextAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export interface StepRecord {
  runId: string;
  idx: number;
  name: string;
  kind: StepKind;
  risk: Risk | null;
  permissions: string[];
  status: StepStatus;
  preview: string | null;
  previewData: unknown;
  output: unknown;
  error: string | null;
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface ApprovalRow {
  id: string;
  runId: string;
  stepIdx: number;
  planHash: string;
  actor: string;
  groups: string[];
  surface: string;
  createdAt: Date;
  expiresAt: Date;
  /** The person whose Slack request or OS login gave it (differs from `actor` only for break-glass). */
  authenticatedAs: string;
  /** How that person was authenticated (method, team, login, host). */
  auth: Record<string, unknown>;
  /** Set when given for someone else: operator, login, host, reason. */
  breakGlass: Record<string, unknown> | null;
}

const RUN_COLUMNS = `id, playbook_id, playbook_fingerprint, incident_id, requested_by, surface, params, status, status_reason,
  dry_run, plan_hash, abort_requested, lease_owner, lease_expires_at, next_at, created_at, updated_at`;

export function toRun(r: Record<string, any>): RunRecord {
  return {
    id: r.id,
    playbookId: r.playbook_id,
    playbookFingerprint: r.playbook_fingerprint,
    incidentId: r.incident_id,
    requestedBy: r.requested_by,
    surface: r.surface,
    params: r.params,
    status: r.status,
    statusReason: r.status_reason,
    dryRun: r.dry_run,
    planHash: r.plan_hash,
    abortRequested: r.abort_requested,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    nextAt: r.next_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toStep(r: Record<string, any>): StepRecord {
  return {
    runId: r.run_id,
    idx: r.idx,
    name: r.name,
    kind: r.kind,
    risk: r.risk,
    permissions: r.permissions,
    status: r.status,
    preview: r.preview,
    previewData: r.preview_data,
    output: r.output,
    error: r.error,
    attempts: r.attempts,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export async function insertRun(
  tx: Queryable,
  run: Omit<RunRecord, "leaseOwner" | "leaseExpiresAt" | "abortRequested" | "statusReason" | "updatedAt">,
  steps: Pick<StepRecord, "idx" | "name" | "kind" | "risk" | "permissions">[],
): Promise<void> {
  await tx.query(
    `INSERT INTO runs (id, playbook_id, playbook_fingerprint, incident_id, requested_by, surface, params, status, dry_run,
       plan_hash, next_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`,
    [run.id, run.playbookId, run.playbookFingerprint, run.incidentId, run.requestedBy, run.surface, JSON.stringify(run.params),
      run.status, run.dryRun, run.planHash, run.nextAt, run.createdAt],
  );
  if (steps.length === 0) return;
  // One multi-row INSERT for all the steps: a proposal costs one round trip, not one per step.
  const values = steps.map((_, i) => `($1, $${i * 5 + 2}, $${i * 5 + 3}, $${i * 5 + 4}, $${i * 5 + 5}, $${i * 5 + 6}, 'pending')`).join(", ");
  await tx.query(
    `INSERT INTO steps (run_id, idx, name, kind, risk, permissions, status) VALUES ${values}`,
    [run.id, ...steps.flatMap((s) => [s.idx, s.name, s.kind, s.risk, JSON.stringify(s.permissions)])],
  );
}

export async function getRun(db: Queryable, id: string): Promise<RunRecord | null> {
  const r = await db.query(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
  return r.rows[0] ? toRun(r.rows[0]) : null;
}

/** Reads the run row and locks it for the rest of the transaction: every state change goes through here. */
export async function lockRun(tx: Queryable, id: string): Promise<RunRecord | null> {
  // FOR UPDATE: approvals, aborts and the runner change the same run; they take turns on its row.
  const r = await tx.query(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1 FOR UPDATE`, [id]);
  return r.rows[0] ? toRun(r.rows[0]) : null;
}

export async function getSteps(db: Queryable, runId: string): Promise<StepRecord[]> {
  const r = await db.query(
    `SELECT run_id, idx, name, kind, risk, permissions, status, preview, preview_data, output, error, attempts, started_at, finished_at
     FROM steps WHERE run_id = $1 ORDER BY idx`,
    [runId],
  );
  return r.rows.map(toStep);
}

export async function listRuns(db: Queryable, opts: { limit: number; incidentId?: string; statuses?: readonly RunStatus[] }): Promise<RunRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.incidentId) {
    params.push(opts.incidentId);
    where.push(`incident_id = $${params.length}`);
  }
  if (opts.statuses) {
    params.push(opts.statuses);
    where.push(`status = ANY($${params.length})`);
  }
  params.push(opts.limit);
  const r = await db.query(
    `SELECT ${RUN_COLUMNS} FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC LIMIT $${params.length}`,
    params,
  );
  return r.rows.map(toRun);
}

export type RunPatch = Partial<Pick<RunRecord, "status" | "statusReason" | "planHash" | "abortRequested" | "leaseOwner" | "leaseExpiresAt" | "nextAt">>;

const RUN_PATCH_COLUMNS: Record<keyof RunPatch, string> = {
  status: "status",
  statusReason: "status_reason",
  planHash: "plan_hash",
  abortRequested: "abort_requested",
  leaseOwner: "lease_owner",
  leaseExpiresAt: "lease_expires_at",
  nextAt: "next_at",
};

export async function updateRun(tx: Queryable, id: string, patch: RunPatch, now: Date): Promise<void> {
  const sets: string[] = [];
  const params: unknown[] = [id, now];
  for (const [k, v] of Object.entries(patch)) {
    params.push(v);
    sets.push(`${RUN_PATCH_COLUMNS[k as keyof RunPatch]} = $${params.length}`);
  }
  await tx.query(`UPDATE runs SET ${[...sets, "updated_at = $2"].join(", ")} WHERE id = $1`, params);
}

export type StepPatch = Partial<Pick<StepRecord, "status" | "preview" | "previewData" | "output" | "error" | "attempts" | "startedAt" | "finishedAt">>;

const STEP_PATCH_COLUMNS: Record<keyof StepPatch, string> = {
  status: "status",
  preview: "preview",
  previewData: "preview_data",
  output: "output",
  error: "error",
  attempts: "attempts",
  startedAt: "started_at",
  finishedAt: "finished_at",
};

export async function updateStep(tx: Queryable, runId: string, idx: number, patch: StepPatch): Promise<void> {
  const sets: string[] = [];
  const params: unknown[] = [runId, idx];
  for (const [k, v] of Object.entries(patch)) {
    const json = k === "output" || k === "previewData";
    params.push(json ? (v === undefined ? null : JSON.stringify(v)) : v);
    sets.push(`${STEP_PATCH_COLUMNS[k as keyof StepPatch]} = $${params.length}`);
  }
  if (sets.length === 0) return;
  await tx.query(`UPDATE steps SET ${sets.join(", ")} WHERE run_id = $1 AND idx = $2`, params);
}

/**
 * Claims runs that are due: pending or waiting ones whose time has come, and running ones
 * whose owner stopped renewing its lease (it died). Returns each claimed run with the
 * status it had, so the runner knows when it is picking up after a crash.
 */
export async function claimRuns(
  db: Queryable,
  opts: { owner: string; now: Date; leaseUntil: Date; limit: number; runId?: string },
): Promise<{ id: string; previousStatus: RunStatus }[]> {
  const r = await db.query<{ id: string; prev_status: RunStatus }>(
    `WITH due AS (
       SELECT id, status AS prev_status FROM runs
       WHERE ((status IN ('pending', 'waiting') AND next_at <= $2) OR (status = 'running' AND lease_expires_at < $2))
         AND ($5::text IS NULL OR id = $5)
       ORDER BY next_at
       LIMIT $4
       -- SKIP LOCKED: replicas polling together each take different runs rather than
       -- queueing on one another's row locks; a run is only ever leased to one of them.
       FOR UPDATE SKIP LOCKED
     )
     UPDATE runs SET status = 'running', lease_owner = $1, lease_expires_at = $3, updated_at = $2
     FROM due WHERE runs.id = due.id
     RETURNING runs.id, due.prev_status`,
    [opts.owner, opts.now, opts.leaseUntil, opts.limit, opts.runId ?? null],
  );
  return r.rows.map((x) => ({ id: x.id, previousStatus: x.prev_status }));
}

/** Extends this owner's lease (and its target locks). False when the lease was lost. */
export async function renewLease(db: Queryable, runId: string, owner: string, until: Date): Promise<boolean> {
  const r = await db.query(`UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'`, [runId, owner, until]);
  await db.query(`UPDATE target_locks SET expires_at = $3 WHERE run_id = $1 AND owner = $2`, [runId, owner, until]);
  return r.rowCount > 0;
}

export async function insertApproval(tx: Queryable, a: ApprovalRow): Promise<boolean> {
  const r = await tx.query(
    `INSERT INTO approvals (id, run_id, step_idx, plan_hash, actor, groups, surface, created_at, expires_at, authenticated_as, auth, break_glass)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (run_id, step_idx, plan_hash, actor) DO UPDATE
       SET id = EXCLUDED.id, groups = EXCLUDED.groups, surface = EXCLUDED.surface, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
           authenticated_as = EXCLUDED.authenticated_as, auth = EXCLUDED.auth, break_glass = EXCLUDED.break_glass
       -- A live approval is not given twice (a double click approves once); an expired one is renewed.
       WHERE approvals.expires_at <= EXCLUDED.created_at`,
    [a.id, a.runId, a.stepIdx, a.planHash, a.actor, JSON.stringify(a.groups), a.surface, a.createdAt, a.expiresAt, a.authenticatedAs, JSON.stringify(a.auth), a.breakGlass === null ? null : JSON.stringify(a.breakGlass)],
  );
  return r.rowCount > 0;
}

export async function getApprovals(db: Queryable, runId: string, stepIdx?: number): Promise<ApprovalRow[]> {
  const r = await db.query<Record<string, any>>(
    `SELECT id, run_id, step_idx, plan_hash, actor, groups, surface, created_at, expires_at, authenticated_as, auth, break_glass FROM approvals
     WHERE run_id = $1 AND ($2::int IS NULL OR step_idx = $2) ORDER BY created_at`,
    [runId, stepIdx ?? null],
  );
  return r.rows.map((x) => ({
    id: x.id,
    runId: x.run_id,
    stepIdx: x.step_idx,
    planHash: x.plan_hash,
    actor: x.actor,
    groups: x.groups,
    surface: x.surface,
    createdAt: x.created_at,
    expiresAt: x.expires_at,
    authenticatedAs: x.authenticated_as,
    auth: x.auth,
    breakGlass: x.break_glass,
  }));
}

/**
 * Takes every lock in `targets` for the run, or none. A lock whose holder's lease ran out
 * is taken over; one held by this same run is renewed.
 */
export async function acquireTargetLocks(
  tx: Queryable,
  opts: { runId: string; owner: string; targets: readonly string[]; now: Date; until: Date },
): Promise<{ ok: true } | { ok: false; heldBy: { target: string; runId: string } }> {
  for (const target of [...opts.targets].sort()) {
    const r = await tx.query(
      `INSERT INTO target_locks (target, run_id, owner, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (target) DO UPDATE SET run_id = EXCLUDED.run_id, owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
       WHERE target_locks.expires_at < $5 OR target_locks.run_id = EXCLUDED.run_id`,
      [target, opts.runId, opts.owner, opts.until, opts.now],
    );
    if (r.rowCount === 0) {
      const held = await tx.query<{ run_id: string }>(`SELECT run_id FROM target_locks WHERE target = $1`, [target]);
      return { ok: false, heldBy: { target, runId: held.rows[0]?.run_id ?? "?" } };
    }
  }
  return { ok: true };
}

export async function releaseTargetLocks(db: Queryable, runId: string): Promise<void> {
  await db.query(`DELETE FROM target_locks WHERE run_id = $1`, [runId]);
}

/** A run row as `to_jsonb(runs)` gives it (timestamps as text) into a RunRecord. */
export function runFromJson(r: Record<string, any>): RunRecord {
  const date = (v: string | null) => (v === null ? null : new Date(v));
  return toRun({ ...r, lease_expires_at: date(r.lease_expires_at), next_at: date(r.next_at), created_at: date(r.created_at), updated_at: date(r.updated_at) });
}
