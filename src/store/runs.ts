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
  /** The fencing token of the current lease: bumped at every claim, checked by every runner commit. */
  leaseEpoch?: number;
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
  /** The raw output, sealed (see secrets.ts), when the stored copy had to be redacted. */
  sealedOutput?: string | null;
  /** The raw preview data (what `run` gets as previewData), sealed, when the stored copy had to be redacted. */
  sealedPreviewData?: string | null;
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
  dry_run, plan_hash, abort_requested, lease_owner, lease_expires_at, lease_epoch, next_at, created_at, updated_at`;

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
    leaseEpoch: Number(r.lease_epoch ?? 0),
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
    sealedOutput: r.sealed_output ?? null,
    sealedPreviewData: r.sealed_preview_data ?? null,
    error: r.error,
    attempts: r.attempts,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export async function insertRun(
  tx: Queryable,
  run: Omit<RunRecord, "leaseOwner" | "leaseExpiresAt" | "leaseEpoch" | "abortRequested" | "statusReason" | "updatedAt" | "nextAt">,
  steps: Pick<StepRecord, "idx" | "name" | "kind" | "risk" | "permissions">[],
): Promise<void> {
  await tx.query(
    `INSERT INTO runs (id, playbook_id, playbook_fingerprint, incident_id, requested_by, surface, params, status, dry_run,
       plan_hash, next_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), $11, $11)`,
    // next_at on the database's clock: a proposal is due at once, whatever this replica's clock says.
    [run.id, run.playbookId, run.playbookFingerprint, run.incidentId, run.requestedBy, run.surface, JSON.stringify(run.params),
      run.status, run.dryRun, run.planHash, run.createdAt],
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
    `SELECT run_id, idx, name, kind, risk, permissions, status, preview, preview_data, sealed_preview_data, output, sealed_output, error, attempts, started_at, finished_at
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

/**
 * A change to a run row. `nextInMs` makes the run due that long from now on the database's
 * clock (never a replica's); giving up the lease (`leaseOwner: null`) clears its expiry too.
 */
export type RunPatch = Partial<Pick<RunRecord, "status" | "statusReason" | "planHash" | "abortRequested" | "leaseOwner">> & { nextInMs?: number };

const RUN_PATCH_COLUMNS: Record<Exclude<keyof RunPatch, "nextInMs">, string> = {
  status: "status",
  statusReason: "status_reason",
  planHash: "plan_hash",
  abortRequested: "abort_requested",
  leaseOwner: "lease_owner",
};

export async function updateRun(tx: Queryable, id: string, patch: RunPatch, now: Date): Promise<void> {
  const sets: string[] = [];
  const params: unknown[] = [id, now];
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    params.push(v);
    if (k === "nextInMs") sets.push(`next_at = now() + $${params.length} * interval '1 millisecond'`);
    else sets.push(`${RUN_PATCH_COLUMNS[k as keyof typeof RUN_PATCH_COLUMNS]} = $${params.length}`);
    if (k === "leaseOwner" && v === null) sets.push("lease_expires_at = NULL");
  }
  await tx.query(`UPDATE runs SET ${[...sets, "updated_at = $2"].join(", ")} WHERE id = $1`, params);
}

export type StepPatch = Partial<Pick<StepRecord, "status" | "preview" | "previewData" | "sealedPreviewData" | "output" | "sealedOutput" | "error" | "attempts" | "startedAt" | "finishedAt">>;

const STEP_PATCH_COLUMNS: Record<keyof StepPatch, string> = {
  status: "status",
  preview: "preview",
  previewData: "preview_data",
  output: "output",
  sealedOutput: "sealed_output",
  sealedPreviewData: "sealed_preview_data",
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

function toApproval(x: Record<string, any>): ApprovalRow {
  return {
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
  };
}

/** A step's approvals and the database's time they are to be judged at, in one round trip. */
export async function getApprovalsAt(db: Queryable, runId: string, stepIdx: number): Promise<{ approvals: ApprovalRow[]; dbNow: Date }> {
  const r = await db.query<Record<string, any>>(
    `SELECT n.db_now, a.id, a.run_id, a.step_idx, a.plan_hash, a.actor, a.groups, a.surface, a.created_at, a.expires_at,
            a.authenticated_as, a.auth, a.break_glass
     FROM (SELECT now() AS db_now) n
     LEFT JOIN approvals a ON a.run_id = $1 AND a.step_idx = $2
     ORDER BY a.created_at`,
    [runId, stepIdx],
  );
  return { approvals: r.rows.filter((x) => x.id !== null).map(toApproval), dbNow: new Date(r.rows[0]!.db_now) };
}

/**
 * A retry of an uncertain step is a new decision: the step's approvals so far stop counting
 * (they expire now, on the database's clock, and stay on record as expired).
 */
export async function expireApprovals(tx: Queryable, runId: string, stepIdx: number): Promise<void> {
  await tx.query(`UPDATE approvals SET expires_at = LEAST(expires_at, now()) WHERE run_id = $1 AND step_idx = $2`, [runId, stepIdx]);
}

/**
 * Claims runs that are due: pending or waiting ones whose time has come, and running ones
 * whose owner stopped renewing its lease (it died). Every comparison is on the database's
 * clock, so a replica whose clock runs ahead can neither claim early nor steal a live lease.
 * Each claim bumps the lease epoch: the fencing token every later commit of the claimer
 * carries. Returns each claimed run with the status it had and its new epoch.
 */
export async function claimRuns(
  db: Queryable,
  opts: { owner: string; leaseMs: number; limit: number; runId?: string },
): Promise<{ id: string; previousStatus: RunStatus; epoch: number }[]> {
  const r = await db.query<{ id: string; prev_status: RunStatus; lease_epoch: string | number }>(
    `WITH due AS (
       SELECT id, status AS prev_status FROM runs
       WHERE ((status IN ('pending', 'waiting') AND next_at <= now()) OR (status = 'running' AND lease_expires_at < now()))
         AND ($4::text IS NULL OR id = $4)
       ORDER BY next_at
       LIMIT $3
       -- SKIP LOCKED: replicas polling together each take different runs rather than
       -- queueing on one another's row locks; a run is only ever leased to one of them.
       FOR UPDATE SKIP LOCKED
     )
     UPDATE runs SET status = 'running', lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond',
       lease_epoch = runs.lease_epoch + 1, updated_at = now()
     FROM due WHERE runs.id = due.id
     RETURNING runs.id, due.prev_status, runs.lease_epoch`,
    [opts.owner, opts.leaseMs, opts.limit, opts.runId ?? null],
  );
  return r.rows.map((x) => ({ id: x.id, previousStatus: x.prev_status, epoch: Number(x.lease_epoch) }));
}

/**
 * Extends this owner's lease by `leaseMs` from the database's now. False when the lease is
 * no longer this owner's at this epoch (another process claimed the run, or it moved on).
 * Target locks need no renewal: they belong to the run, not to its lease.
 */
export async function renewLease(db: Queryable, lease: { runId: string; owner: string; epoch: number; leaseMs: number }): Promise<boolean> {
  const r = await db.query(
    `UPDATE runs SET lease_expires_at = now() + $4 * interval '1 millisecond'
     WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 AND status = 'running'`,
    [lease.runId, lease.owner, lease.epoch, lease.leaseMs],
  );
  return r.rowCount > 0;
}

/**
 * Hands a lease over at shutdown: the run stays `running` with its lease already expired, so
 * any replica's next claim takes it (and its recovery repeats the read-only step that was cut
 * short) without waiting out the lease. Only this owner's lease at this epoch is touched.
 */
export async function releaseLease(db: Queryable, lease: { runId: string; owner: string; epoch: number }): Promise<boolean> {
  const r = await db.query(
    `UPDATE runs SET lease_expires_at = now() - interval '1 millisecond', updated_at = now()
     WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 AND status = 'running'`,
    [lease.runId, lease.owner, lease.epoch],
  );
  return r.rowCount > 0;
}

/** The database's clock: the one every lease, lock and expiry is judged by. */
export async function databaseNow(db: Queryable): Promise<Date> {
  const r = await db.query<{ now: Date }>("SELECT now() AS now");
  return new Date(r.rows[0]!.now);
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
  return r.rows.map(toApproval);
}

export async function releaseTargetLocks(db: Queryable, runId: string): Promise<void> {
  await db.query(`DELETE FROM target_locks WHERE run_id = $1`, [runId]);
}

/** A run row as `to_jsonb(runs)` gives it (timestamps as text) into a RunRecord. */
export function runFromJson(r: Record<string, any>): RunRecord {
  const date = (v: string | null) => (v === null ? null : new Date(v));
  return toRun({ ...r, lease_expires_at: date(r.lease_expires_at), next_at: date(r.next_at), created_at: date(r.created_at), updated_at: date(r.updated_at) });
}

/** Stores a run's secret params, sealed (see execute/secrets.ts); the database never sees the key. */
export async function insertRunSecrets(tx: Queryable, runId: string, sealed: string): Promise<void> {
  await tx.query(`INSERT INTO run_secrets (run_id, sealed) VALUES ($1, $2)`, [runId, sealed]);
}

export async function getRunSecrets(db: Queryable, runId: string): Promise<string | null> {
  const r = await db.query<{ sealed: string }>(`SELECT sealed FROM run_secrets WHERE run_id = $1`, [runId]);
  return r.rows[0]?.sealed ?? null;
}

/** A run that ended keeps no sealed execution inputs: secret params, sealed outputs and preview data (the runner's commit clears them too). */
export async function deleteRunSecrets(tx: Queryable, runId: string): Promise<void> {
  await tx.query(`DELETE FROM run_secrets WHERE run_id = $1`, [runId]);
  // The raw outputs and preview data sealed for later steps go with the run's secret params.
  await tx.query(
    `UPDATE steps SET sealed_output = NULL, sealed_preview_data = NULL
     WHERE run_id = $1 AND (sealed_output IS NOT NULL OR sealed_preview_data IS NOT NULL)`,
    [runId],
  );
}
