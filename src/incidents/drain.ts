import { appendAudit } from "../audit/chain.ts";
import type { AuditEvent, AuditInput } from "../audit/events.ts";
import type { Alert } from "../sdk/alert.ts";
import type { Db, Queryable } from "../store/driver.ts";
import { groupDeliveries, type DeliveryIn, type GroupingDeps } from "./group.ts";
import { enqueueJob, enqueueRetriage, incidentsToRetriage } from "./jobs.ts";
import { countAlerts, deleteKeysOf, insertIncident, updateIncidentStates, upsertAlerts, upsertKeys } from "./queries.ts";

/** A stable key for the drain's advisory lock ("belaying"). */
const DRAIN_LOCK_KEY = "7090463286741600103";

export interface DrainDeps extends Omit<GroupingDeps, "tx" | "now"> {
  db: Db;
  clock: () => Date;
  /** Deliveries per transaction (default 500). */
  batchSize?: number;
  onEvents?: (events: readonly AuditEvent[]) => void;
}

export interface DrainResult {
  deliveries: number;
  alerts: number;
  opened: string[];
  resolved: string[];
}

interface DeliveryRow {
  seq: number;
  id: string;
  source: string;
  event_type: string;
  alerts: Alert[];
  meta: Record<string, unknown>;
  received_at: Date | string;
}

/**
 * Turns stored deliveries into incidents, one transaction per batch: alerts deduplicated by
 * fingerprint and grouped, incidents opened, updated and resolved, jobs enqueued, every
 * delivery audited, and the deliveries marked processed, all or nothing.
 */
export async function drainOnce(deps: DrainDeps): Promise<DrainResult> {
  let events: AuditEvent[] = [];
  const result = await deps.db.transaction(async (tx) => {
    // One drainer at a time across replicas: grouping reads "is there an open incident for
    // this key?" and must not race another drainer answering the same question. Batching
    // keeps this cheap; the lock is released at commit.
    await tx.query("SELECT pg_advisory_xact_lock($1)", [DRAIN_LOCK_KEY]);
    const rows = (
      await tx.query<DeliveryRow>(
        `SELECT seq, id, source, event_type, alerts, meta, received_at FROM ingest_deliveries
         WHERE processed_at IS NULL ORDER BY seq LIMIT $1`,
        [deps.batchSize ?? 500],
      )
    ).rows;
    if (rows.length === 0) return { deliveries: 0, alerts: 0, opened: [], resolved: [] };
    const r = await applyDeliveries(tx, deps, rows.map(toDelivery));
    events = r.events;
    await tx.query(`UPDATE ingest_deliveries SET processed_at = $2, attempts = attempts + 1 WHERE id = ANY($1::text[])`, [rows.map((x) => x.id), deps.clock()]);
    return { deliveries: rows.length, alerts: r.alerts, opened: r.opened, resolved: r.resolved };
  });
  if (events.length > 0) deps.onEvents?.(events);
  return result;
}

/**
 * Drains a single delivery (the oldest unprocessed) alone; a delivery that keeps failing is
 * set aside with its error so the ones behind it are not blocked. Used after a batch failed.
 */
export async function drainOneIsolated(deps: DrainDeps, maxAttempts = 5): Promise<{ deliveries: number; parked: boolean }> {
  const [oldest] = (await deps.db.query<DeliveryRow>(`SELECT seq, id FROM ingest_deliveries WHERE processed_at IS NULL ORDER BY seq LIMIT 1`)).rows;
  if (!oldest) return { deliveries: 0, parked: false };
  try {
    const r = await drainOnce({ ...deps, batchSize: 1 });
    return { deliveries: r.deliveries, parked: false };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const r = await deps.db.query<{ attempts: number }>(
      `UPDATE ingest_deliveries SET attempts = attempts + 1, error = $2 WHERE id = $1 RETURNING attempts`,
      [oldest.id, message.slice(0, 2000)],
    );
    if (Number(r.rows[0]?.attempts ?? 0) < maxAttempts) throw err;
    const now = deps.clock();
    await deps.db.transaction(async (tx) => {
      await tx.query(`UPDATE ingest_deliveries SET processed_at = $2 WHERE id = $1`, [oldest.id, now]);
      const events = await appendAudit(tx, [{ kind: "alert.rejected", actor: "belay", surface: "engine", data: { delivery: oldest.id, error: message.slice(0, 500) } }], { now, newId: () => deps.newId("evt") });
      deps.onEvents?.(events);
    });
    return { deliveries: 1, parked: true };
  }
}

function toDelivery(r: DeliveryRow): DeliveryIn {
  return {
    id: r.id,
    source: r.source,
    eventType: r.event_type,
    alerts: r.alerts,
    meta: r.meta ?? {},
    receivedAt: r.received_at instanceof Date ? r.received_at : new Date(r.received_at),
  };
}

async function applyDeliveries(
  tx: Queryable,
  deps: DrainDeps,
  deliveries: DeliveryIn[],
): Promise<{ events: AuditEvent[]; alerts: number; opened: string[]; resolved: string[] }> {
  const now = deps.clock();
  const g = await groupDeliveries({ ...deps, tx, now }, deliveries);

  for (const inc of g.incidents.values()) if (inc.isNew) await insertIncident(tx, inc.record);
  await upsertAlerts(tx, [...g.alerts.values()].filter((a) => a.dirty).map((a) => a.record));
  await upsertKeys(tx, g.keys);

  // Resolution is decided on the stored alerts: every alert of the incident, not only this batch's.
  const touched = [...g.incidents.values()].filter((i) => i.alertsChanged && i.record.status === "open");
  const counts = await countAlerts(tx, touched.map((i) => i.record.id));
  const audit: AuditInput[] = [...g.events];
  const opened: string[] = [];
  const resolved: string[] = [];
  for (const inc of touched) {
    const c = counts.get(inc.record.id) ?? { firing: 0, total: 0 };
    inc.record.alertCount = c.total;
    if (c.firing === 0 && c.total > 0) {
      inc.record.status = "resolved";
      inc.record.resolvedAt = now;
      inc.record.updatedAt = now;
      inc.changed = true;
      resolved.push(inc.record.id);
      audit.push({ kind: "incident.resolved", actor: "belay", surface: inc.surface, incidentId: inc.record.id, data: { reason: inc.resolveReason ?? "all alerts resolved", alerts: c.total } });
    }
  }
  await updateIncidentStates(
    tx,
    [...g.incidents.values()].filter((inc) => inc.changed || (inc.isNew && inc.record.status === "resolved")).map((inc) => inc.record),
  );
  for (const inc of g.incidents.values()) {
    const id = inc.record.id;
    if (inc.isNew) opened.push(id);
    if (inc.record.status === "open" && (inc.isNew || inc.reopened)) {
      await enqueueJob(tx, { id: deps.newId("job"), incidentId: id, kind: "triage", dedupeKey: `triage:${id}:${inc.record.openedCount}`, now });
    }
    // Opened and resolved within one batch (a flap): nothing was posted, so nothing to withdraw.
    if (inc.record.status === "resolved" && resolved.includes(id) && !inc.isNew) {
      await enqueueJob(tx, { id: deps.newId("job"), incidentId: id, kind: "resolve", dedupeKey: `resolve:${id}:${inc.record.openedCount}`, now });
    }
    if (!inc.isNew && !resolved.includes(id) && inc.updateReasons.size > 0) {
      audit.push({
        kind: "incident.updated",
        actor: "belay",
        surface: inc.surface,
        incidentId: id,
        data: { reasons: [...inc.updateReasons].slice(0, 20), alertsAdded: inc.added, alerts: inc.record.alertCount, pagerdutyStatus: inc.record.pagerdutyStatus },
      });
    }
  }
  // A failed or withdrawn proposal never silences an incident: an alert joining it triages it again.
  const joined = [...g.incidents.values()].filter((i) => !i.isNew && !i.reopened && i.added > 0 && i.record.status === "open").map((i) => i.record.id);
  for (const id of await incidentsToRetriage(tx, joined)) {
    await enqueueRetriage(tx, { id: deps.newId("job"), incidentId: id, now });
    audit.push({ kind: "incident.retriage_requested", actor: "belay", surface: g.incidents.get(id)!.surface, incidentId: id, data: { reason: "an alert joined after its proposal failed, was asked for or ended" } });
  }
  await deleteKeysOf(tx, resolved);
  const events = await appendAudit(tx, audit, { now, newId: () => deps.newId("evt") });
  return { events, alerts: g.alertCount, opened, resolved };
}
