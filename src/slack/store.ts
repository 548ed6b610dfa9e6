import type { Queryable } from "../store/driver.ts";
import { redactOutgoing } from "../sinks.ts";
import { getIncident, type IncidentRecord } from "../incidents/queries.ts";
import type { IncidentLink } from "./blocks/modal.ts";

/** A Slack message belay owns, by key ("run:<id>", "incident:<id>", ...). */
export interface SlackMessageRow {
  key: string;
  channel: string;
  threadTs: string | null;
  /** Null until chat.postMessage answered (or forever, if the process died in between). */
  ts: string | null;
  runId: string | null;
  context: Record<string, unknown>;
}

function toMessage(r: Record<string, any>): SlackMessageRow {
  return { key: r.key, channel: r.channel, threadTs: r.thread_ts, ts: r.ts, runId: r.run_id, context: r.context ?? {} };
}

/** Claims a key for a new message. False when the key already has one (posted or being posted). */
export async function claimMessage(db: Queryable, m: Omit<SlackMessageRow, "ts">, now: Date): Promise<boolean> {
  const r = await db.query(
    `INSERT INTO slack_messages (key, channel, thread_ts, ts, run_id, context, created_at, updated_at)
     VALUES ($1, $2, $3, NULL, $4, $5, $6, $6) ON CONFLICT (key) DO NOTHING`,
    [m.key, m.channel, m.threadTs, m.runId, JSON.stringify(m.context), now],
  );
  return r.rowCount > 0;
}

export async function setMessageTs(db: Queryable, key: string, ts: string, now: Date): Promise<void> {
  await db.query(`UPDATE slack_messages SET ts = $2, updated_at = $3 WHERE key = $1`, [key, ts, now]);
}

export async function mergeMessageContext(db: Queryable, key: string, patch: Record<string, unknown>, now: Date): Promise<void> {
  // What a message shows is a copy that left the engine: stored redacted, like publisher.show's.
  await db.query(`UPDATE slack_messages SET context = context || $2::jsonb, updated_at = $3 WHERE key = $1`, [key, JSON.stringify(redactOutgoing(patch)), now]);
}

export async function getMessage(db: Queryable, key: string): Promise<SlackMessageRow | null> {
  const r = await db.query(`SELECT key, channel, thread_ts, ts, run_id, context FROM slack_messages WHERE key = $1`, [key]);
  return r.rows[0] ? toMessage(r.rows[0]) : null;
}

/** The messages that show any of these runs. */
export async function messagesForRuns(db: Queryable, runIds: readonly string[]): Promise<SlackMessageRow[]> {
  if (runIds.length === 0) return [];
  const r = await db.query(`SELECT key, channel, thread_ts, ts, run_id, context FROM slack_messages WHERE run_id = ANY($1)`, [runIds]);
  return r.rows.map(toMessage);
}

/** The newest audit event's seq (0 for an empty log). */
export async function lastAuditSeq(db: Queryable): Promise<number> {
  const r = await db.query(`SELECT coalesce(max(seq), 0)::int8 AS seq FROM audit_events`);
  return Number(r.rows[0]?.seq ?? 0);
}

/** Runs with audit events after `seq`: each run's newest seq and whether it has finished. */
export async function runsChangedSince(db: Queryable, seq: number): Promise<{ runId: string; seq: number; finished: boolean }[]> {
  // A range scan of the primary key: appends take turns on the chain's head, so seq order is commit order.
  const r = await db.query(
    `SELECT run_id, max(seq)::int8 AS seq,
            bool_or(kind IN ('run.succeeded', 'run.failed', 'run.rolled_back', 'run.aborted', 'run.previewed')) AS finished
       FROM audit_events WHERE seq > $1 AND run_id IS NOT NULL GROUP BY run_id`,
    [seq],
  );
  return r.rows.map((x: Record<string, any>) => ({ runId: x.run_id, seq: Number(x.seq), finished: x.finished === true }));
}

/** Break-glass decisions after `seq` (announced in their run's thread). */
export async function breakGlassSince(db: Queryable, seq: number): Promise<{ id: string; runId: string; actor: string; step: string | null; data: Record<string, unknown> }[]> {
  const r = await db.query(`SELECT id, run_id, actor, step, data FROM audit_events WHERE seq > $1 AND kind = 'break_glass.used' ORDER BY seq`, [seq]);
  return r.rows.map((x: Record<string, any>) => ({ id: x.id, runId: x.run_id, actor: x.actor, step: x.step, data: typeof x.data === "string" ? JSON.parse(x.data) : (x.data ?? {}) }));
}

/** What a button acts on. The button itself carries only `token`. */
export interface ActionTokenRow {
  token: string;
  action: string;
  subject: string;
  runId: string | null;
  stepIdx: number | null;
  planHash: string | null;
  incidentId: string | null;
  createdAt: Date;
  expiresAt: Date;
}

function toToken(r: Record<string, any>): ActionTokenRow {
  return {
    token: r.token,
    action: r.action,
    subject: r.subject,
    runId: r.run_id,
    stepIdx: r.step_idx,
    planHash: r.plan_hash,
    incidentId: r.incident_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

const TOKEN_COLUMNS = "token, action, subject, run_id, step_idx, plan_hash, incident_id, created_at, expires_at";

/** A live token for this action and subject, if one was issued and has not expired (on the database's clock). */
export async function findLiveToken(db: Queryable, action: string, subject: string): Promise<ActionTokenRow | null> {
  const r = await db.query(
    `SELECT ${TOKEN_COLUMNS} FROM slack_action_tokens WHERE action = $1 AND subject = $2 AND expires_at > now() ORDER BY expires_at DESC LIMIT 1`,
    [action, subject],
  );
  return r.rows[0] ? toToken(r.rows[0]) : null;
}

/** Stores a token that lives `ttlMs` from the database's now (every replica judges it by that clock). */
export async function insertToken(db: Queryable, t: Omit<ActionTokenRow, "createdAt" | "expiresAt">, ttlMs: number): Promise<void> {
  await db.query(
    `INSERT INTO slack_action_tokens (${TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now() + $8 * interval '1 millisecond')`,
    [t.token, t.action, t.subject, t.runId, t.stepIdx, t.planHash, t.incidentId, ttlMs],
  );
}

/** A token and whether it has expired, judged on the database's clock. */
export async function getToken(db: Queryable, token: string): Promise<(ActionTokenRow & { expired: boolean }) | null> {
  const r = await db.query(`SELECT ${TOKEN_COLUMNS}, expires_at <= now() AS expired FROM slack_action_tokens WHERE token = $1`, [token]);
  return r.rows[0] ? { ...toToken(r.rows[0]), expired: Boolean(r.rows[0].expired) } : null;
}

/**
 * Records that this user used this token. False when they already had: a replay or a second
 * click. With `renewableBefore`, a use made before that time is taken again (an approval
 * given then has expired, and the engine lets the same person give it again).
 */
export async function claimTokenUse(db: Queryable, token: string, userId: string, renewableAfterMs: number | null = null): Promise<boolean> {
  // The conflict row is locked and the WHERE re-checked under the lock: of two simultaneous
  // clicks, only one sees the old use and takes it. Times are the database's.
  const r = await db.query(
    `INSERT INTO slack_action_uses (token, user_id, used_at) VALUES ($1, $2, now())
     ON CONFLICT (token, user_id) DO UPDATE SET used_at = EXCLUDED.used_at
       WHERE $3::bigint IS NOT NULL AND slack_action_uses.used_at <= now() - $3::bigint * interval '1 millisecond'`,
    [token, userId, renewableAfterMs],
  );
  return r.rowCount > 0;
}

/** Gives a use back after the engine refused the decision, so the person may try again later. */
export async function releaseTokenUse(db: Queryable, token: string, userId: string): Promise<void> {
  await db.query(`DELETE FROM slack_action_uses WHERE token = $1 AND user_id = $2`, [token, userId]);
}

/** The incident a run from Slack is for: by id, or by the thread root Slack posted for it. */
export async function findIncident(db: Queryable, link: IncidentLink): Promise<IncidentRecord | null> {
  if (link.id !== undefined) return getIncident(db, link.id);
  const r = await db.query<{ id: string }>(`SELECT id FROM incidents WHERE slack_channel = $1 AND slack_ts = $2 LIMIT 1`, [link.thread.channel, link.thread.ts]);
  return r.rows[0] ? getIncident(db, r.rows[0].id) : null;
}
