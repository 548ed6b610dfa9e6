import type { Alert } from "../sdk/alert.ts";
import type { Queryable } from "../store/driver.ts";

/*
 * SQL for incidents, their alerts and grouping keys (tables of migration 0002). Parameterised
 * throughout; bulk writes go through jsonb_to_recordset so a storm is a few statements per
 * batch, not a few per alert.
 */

export interface IncidentRecord {
  id: string;
  title: string;
  service: string | null;
  status: "open" | "resolved";
  drill: boolean;
  source: string | null;
  severity: string | null;
  failureMode: string | null;
  pagerdutyIncidentId: string | null;
  pagerdutyStatus: string | null;
  alertCount: number;
  openedCount: number;
  lastAlertAt: Date | null;
  slackChannel: string | null;
  slackTs: string | null;
  slackPermalink: string | null;
  createdAt: Date;
  updatedAt: Date;
  resolvedAt: Date | null;
}

const COLUMNS = `id, title, service, status, drill, source, severity, failure_mode, pagerduty_incident_id, pagerduty_status,
  alert_count, opened_count, last_alert_at, slack_channel, slack_ts, slack_permalink, created_at, updated_at, resolved_at`;

interface IncidentRow {
  id: string;
  title: string;
  service: string | null;
  status: "open" | "resolved";
  drill: boolean;
  source: string | null;
  severity: string | null;
  failure_mode: string | null;
  pagerduty_incident_id: string | null;
  pagerduty_status: string | null;
  alert_count: number;
  opened_count: number;
  last_alert_at: Date | string | null;
  slack_channel: string | null;
  slack_ts: string | null;
  slack_permalink: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  resolved_at: Date | string | null;
}

const date = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));

function toRecord(r: IncidentRow): IncidentRecord {
  return {
    id: r.id,
    title: r.title,
    service: r.service,
    status: r.status,
    drill: r.drill,
    source: r.source,
    severity: r.severity,
    failureMode: r.failure_mode,
    pagerdutyIncidentId: r.pagerduty_incident_id,
    pagerdutyStatus: r.pagerduty_status,
    alertCount: Number(r.alert_count),
    openedCount: Number(r.opened_count),
    lastAlertAt: date(r.last_alert_at),
    slackChannel: r.slack_channel,
    slackTs: r.slack_ts,
    slackPermalink: r.slack_permalink,
    createdAt: date(r.created_at)!,
    updatedAt: date(r.updated_at)!,
    resolvedAt: date(r.resolved_at),
  };
}

export async function getIncident(db: Queryable, id: string): Promise<IncidentRecord | null> {
  const r = await db.query<IncidentRow>(`SELECT ${COLUMNS} FROM incidents WHERE id = $1`, [id]);
  return r.rows[0] ? toRecord(r.rows[0]) : null;
}

export async function getIncidentsByIds(db: Queryable, ids: readonly string[]): Promise<IncidentRecord[]> {
  if (ids.length === 0) return [];
  return (await db.query<IncidentRow>(`SELECT ${COLUMNS} FROM incidents WHERE id = ANY($1::text[])`, [ids])).rows.map(toRecord);
}

export async function getIncidentsByPagerDutyIds(db: Queryable, ids: readonly string[]): Promise<IncidentRecord[]> {
  if (ids.length === 0) return [];
  return (await db.query<IncidentRow>(`SELECT ${COLUMNS} FROM incidents WHERE pagerduty_incident_id = ANY($1::text[])`, [ids])).rows.map(toRecord);
}

export async function listIncidents(db: Queryable, opts: { status?: "open" | "resolved"; limit?: number } = {}): Promise<IncidentRecord[]> {
  const r = await db.query<IncidentRow>(
    `SELECT ${COLUMNS} FROM incidents WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at DESC LIMIT $2`,
    [opts.status ?? null, opts.limit ?? 100],
  );
  return r.rows.map(toRecord);
}

export async function insertIncident(tx: Queryable, i: IncidentRecord): Promise<void> {
  await tx.query(
    `INSERT INTO incidents (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
    [
      i.id, i.title, i.service, i.status, i.drill, i.source, i.severity, i.failureMode, i.pagerdutyIncidentId, i.pagerdutyStatus,
      i.alertCount, i.openedCount, i.lastAlertAt, i.slackChannel, i.slackTs, i.slackPermalink, i.createdAt, i.updatedAt, i.resolvedAt,
    ],
  );
}

/**
 * Writes the fields the drain changes, for every incident of a batch in one statement (a
 * storm touches each of its incidents in every batch). Slack fields belong to triage and are
 * left alone. Rows are locked in id order, so two writers never wait on each other in a cycle.
 */
export async function updateIncidentStates(tx: Queryable, incidents: readonly IncidentRecord[]): Promise<void> {
  if (incidents.length === 0) return;
  const rows = [...incidents]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((i) => ({
      id: i.id,
      status: i.status,
      severity: i.severity,
      pagerduty_status: i.pagerdutyStatus,
      alert_count: i.alertCount,
      opened_count: i.openedCount,
      last_alert_at: i.lastAlertAt?.toISOString() ?? null,
      updated_at: i.updatedAt.toISOString(),
      resolved_at: i.resolvedAt?.toISOString() ?? null,
    }));
  await tx.query(
    `UPDATE incidents AS i SET status = x.status, severity = x.severity, pagerduty_status = x.pagerduty_status,
       alert_count = x.alert_count, opened_count = x.opened_count, last_alert_at = x.last_alert_at,
       updated_at = x.updated_at, resolved_at = x.resolved_at
     FROM jsonb_to_recordset($1::jsonb) AS x(id text, status text, severity text, pagerduty_status text, alert_count integer,
       opened_count integer, last_alert_at timestamptz, updated_at timestamptz, resolved_at timestamptz)
     WHERE i.id = x.id`,
    [JSON.stringify(rows)],
  );
}

export async function setIncidentThread(db: Queryable, id: string, t: { channel: string; ts: string; permalink?: string }, now: Date): Promise<void> {
  await db.query(`UPDATE incidents SET slack_channel = $2, slack_ts = $3, slack_permalink = $4, updated_at = $5 WHERE id = $1`, [
    id, t.channel, t.ts, t.permalink ?? null, now,
  ]);
}

/* ------------------------------------------------------------ grouping keys */

/** The targets open incidents are about (their `target:` correlation keys), drills excluded: what belay keeps a connection to. */
export async function openIncidentTargets(db: Queryable): Promise<{ kind: string; name: string }[]> {
  const r = await db.query<{ key: string }>(
    `SELECT DISTINCT k.key FROM incident_keys k JOIN incidents i ON i.id = k.incident_id
     WHERE i.status = 'open' AND k.key LIKE 'target:%' AND k.key NOT LIKE 'target:drill:%'`,
  );
  return r.rows.map((row) => {
    const [kind, ...rest] = row.key.slice("target:".length).split("/");
    return { kind: kind!, name: rest.join("/") };
  });
}

/**
 * Incidents holding a key that starts with `prefix` (`target:redis/`: incidents about some Redis
 * target) that are open, or resolved at or after `resolvedSince` (null: open ones only).
 */
export async function getIncidentsByKeyPrefix(db: Queryable, prefix: string, resolvedSince: Date | null): Promise<string[]> {
  // left() = $1 rather than LIKE: a target's name may hold % or _.
  const r = await db.query<{ incident_id: string }>(
    `SELECT DISTINCT k.incident_id FROM incident_keys k JOIN incidents i ON i.id = k.incident_id
     WHERE left(k.key, length($1)) = $1 AND (i.status = 'open' OR ($2::timestamptz IS NOT NULL AND i.resolved_at >= $2::timestamptz))`,
    [prefix, resolvedSince],
  );
  return r.rows.map((row) => row.incident_id);
}

/** Every grouping key an incident holds. */
export async function getKeysOf(db: Queryable, incidentId: string): Promise<string[]> {
  const r = await db.query<{ key: string }>(`SELECT key FROM incident_keys WHERE incident_id = $1`, [incidentId]);
  return r.rows.map((row) => row.key);
}

export async function getOpenKeys(db: Queryable, keys: readonly string[]): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const r = await db.query<{ key: string; incident_id: string }>(
    `SELECT k.key, k.incident_id FROM incident_keys k JOIN incidents i ON i.id = k.incident_id
     WHERE k.key = ANY($1::text[]) AND i.status = 'open'`,
    [keys],
  );
  return new Map(r.rows.map((row) => [row.key, row.incident_id]));
}

/** The incident each key belongs to, open or resolved (correlation keys outlive a resolution for a while). */
export async function getKeyOwners(db: Queryable, keys: readonly string[]): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const r = await db.query<{ key: string; incident_id: string }>(`SELECT key, incident_id FROM incident_keys WHERE key = ANY($1::text[])`, [keys]);
  return new Map(r.rows.map((row) => [row.key, row.incident_id]));
}

/** A key moves to the newest incident (a window key outlives a stale incident). */
export async function upsertKeys(tx: Queryable, pairs: readonly { key: string; incidentId: string }[]): Promise<void> {
  if (pairs.length === 0) return;
  await tx.query(
    `INSERT INTO incident_keys (key, incident_id)
     SELECT key, incident_id FROM jsonb_to_recordset($1::jsonb) AS x(key text, incident_id text)
     ON CONFLICT (key) DO UPDATE SET incident_id = EXCLUDED.incident_id`,
    [JSON.stringify(pairs.map((p) => ({ key: p.key, incident_id: p.incidentId })))],
  );
}

/** Deletes a resolved incident's grouping keys, except its correlation keys (`target:`, `instance:`), which reopen it if a related alert fires soon. */
export async function deleteKeysOf(tx: Queryable, incidentIds: readonly string[]): Promise<void> {
  if (incidentIds.length === 0) return;
  await tx.query(`DELETE FROM incident_keys WHERE incident_id = ANY($1::text[]) AND key NOT LIKE 'target:%' AND key NOT LIKE 'instance:%'`, [incidentIds]);
}

/* ------------------------------------------------------------------ alerts */

export interface AlertRecord {
  source: string;
  fingerprint: string;
  incidentId: string | null;
  status: "firing" | "resolved";
  alert: Alert;
  /** Deliveries that carried it (as a delta when upserting). */
  received: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  resolvedAt: Date | null;
}

export async function getAlertsByKey(db: Queryable, keys: readonly { source: string; fingerprint: string }[]): Promise<AlertRecord[]> {
  if (keys.length === 0) return [];
  const r = await db.query<{
    source: string; fingerprint: string; incident_id: string | null; status: "firing" | "resolved"; alert: Alert; received: number;
    first_seen_at: Date | string; last_seen_at: Date | string; resolved_at: Date | string | null;
  }>(
    // An alert has a row per incident it was part of (0009); its current state is the latest one.
    `SELECT DISTINCT ON (a.source, a.fingerprint)
       a.source, a.fingerprint, a.incident_id, a.status, a.alert, a.received, a.first_seen_at, a.last_seen_at, a.resolved_at
     FROM incident_alerts a JOIN unnest($1::text[], $2::text[]) AS k(source, fingerprint)
       ON a.source = k.source AND a.fingerprint = k.fingerprint
     ORDER BY a.source, a.fingerprint, a.last_seen_at DESC`,
    [keys.map((k) => k.source), keys.map((k) => k.fingerprint)],
  );
  return r.rows.map((row) => ({
    source: row.source,
    fingerprint: row.fingerprint,
    incidentId: row.incident_id,
    status: row.status,
    alert: row.alert,
    received: Number(row.received),
    firstSeenAt: date(row.first_seen_at)!,
    lastSeenAt: date(row.last_seen_at)!,
    resolvedAt: date(row.resolved_at),
  }));
}

/**
 * Inserts or updates alerts, one row per (alert, incident): an alert that joins a new incident
 * gets a new row and the old incident keeps its own. `received` is added to the stored count,
 * first_seen_at is kept.
 */
export async function upsertAlerts(tx: Queryable, alerts: readonly AlertRecord[]): Promise<void> {
  if (alerts.length === 0) return;
  await tx.query(
    `INSERT INTO incident_alerts (source, fingerprint, incident_id, status, alert, received, first_seen_at, last_seen_at, resolved_at)
     SELECT source, fingerprint, incident_id, status, alert, received, first_seen_at, last_seen_at, resolved_at
     FROM jsonb_to_recordset($1::jsonb) AS x(source text, fingerprint text, incident_id text, status text, alert jsonb,
       received integer, first_seen_at timestamptz, last_seen_at timestamptz, resolved_at timestamptz)
     ON CONFLICT (source, fingerprint, incident_key) DO UPDATE SET status = EXCLUDED.status,
       alert = EXCLUDED.alert, received = incident_alerts.received + EXCLUDED.received,
       last_seen_at = EXCLUDED.last_seen_at, resolved_at = EXCLUDED.resolved_at`,
    [
      JSON.stringify(
        alerts.map((a) => ({
          source: a.source,
          fingerprint: a.fingerprint,
          incident_id: a.incidentId,
          status: a.status,
          alert: a.alert,
          received: a.received,
          first_seen_at: a.firstSeenAt.toISOString(),
          last_seen_at: a.lastSeenAt.toISOString(),
          resolved_at: a.resolvedAt?.toISOString() ?? null,
        })),
      ),
    ],
  );
}

export async function countAlerts(db: Queryable, incidentIds: readonly string[]): Promise<Map<string, { firing: number; total: number }>> {
  if (incidentIds.length === 0) return new Map();
  const r = await db.query<{ incident_id: string; firing: number; total: number }>(
    `SELECT incident_id, count(*) FILTER (WHERE status = 'firing')::int AS firing, count(*)::int AS total
     FROM incident_alerts WHERE incident_id = ANY($1::text[]) GROUP BY incident_id`,
    [incidentIds],
  );
  return new Map(r.rows.map((row) => [row.incident_id, { firing: Number(row.firing), total: Number(row.total) }]));
}

/** The incident's alerts, firing first, oldest first. */
export async function alertsOf(db: Queryable, incidentId: string, limit = 50): Promise<AlertRecord[]> {
  const r = await db.query<{ source: string; fingerprint: string; status: "firing" | "resolved"; alert: Alert; received: number; first_seen_at: Date | string; last_seen_at: Date | string; resolved_at: Date | string | null }>(
    `SELECT source, fingerprint, status, alert, received, first_seen_at, last_seen_at, resolved_at FROM incident_alerts
     WHERE incident_id = $1 ORDER BY (status = 'firing') DESC, first_seen_at, fingerprint LIMIT $2`,
    [incidentId, limit],
  );
  return r.rows.map((row) => ({
    source: row.source,
    fingerprint: row.fingerprint,
    incidentId,
    status: row.status,
    alert: row.alert,
    received: Number(row.received),
    firstSeenAt: date(row.first_seen_at)!,
    lastSeenAt: date(row.last_seen_at)!,
    resolvedAt: date(row.resolved_at),
  }));
}
