import type { AuditInput } from "../audit/events.ts";
import type { Matcher } from "../match/types.ts";
import type { Alert } from "../sdk/alert.ts";
import type { Queryable } from "../store/driver.ts";
import { storesNamed, type DataStore, type TargetDirectory } from "../plan/targets.ts";
import { correlationKeyOf, targetOfAlert } from "./correlate.ts";
import { getAlertsByKey, getIncidentsByIds, getIncidentsByPagerDutyIds, getKeyOwners, getIncidentsByKeyPrefix, getKeysOf, getOpenKeys, type AlertRecord, type IncidentRecord } from "./queries.ts";

export interface DeliveryIn {
  id: string;
  source: string;
  eventType: string;
  alerts: Alert[];
  meta: Record<string, unknown>;
  receivedAt: Date;
}

export interface GroupingDeps {
  tx: Queryable;
  now: Date;
  newId: (prefix: string) => string;
  /** Names the failure mode of an alert that opens an incident (window grouping keys on it). */
  matcher: Pick<Matcher, "match">;
  /** Alerts naming the same service and failure mode within this window join one incident. */
  windowMs: number;
  /** Configured targets and their label matchers: alerts about one target within the window are one incident. */
  targets?: TargetDirectory;
  /**
   * An incident resolved at most this long ago is reopened by a firing alert about the same
   * target (its series vanished because the target became unreachable, and RedisDown fires): 0, never.
   */
  reopenWithinMs?: number;
}

export interface IncidentWork {
  record: IncidentRecord;
  isNew: boolean;
  reopened: boolean;
  /** Stored fields changed: write the row. */
  changed: boolean;
  /** An alert joined, fired again or resolved: look at resolution. */
  alertsChanged: boolean;
  added: number;
  updateReasons: Set<string>;
  surface: string;
  resolveReason: string | null;
}

interface AlertWork {
  record: AlertRecord;
  /** Deliveries in this batch that carried it. */
  delta: number;
  dirty: boolean;
}

export interface Grouping {
  incidents: Map<string, IncidentWork>;
  alerts: Map<string, { record: AlertRecord; dirty: boolean }>;
  keys: { key: string; incidentId: string }[];
  events: AuditInput[];
  alertCount: number;
}

const PD_START = new Set(["incident.triggered", "incident.reopened"]);
const PD_STATUS: Record<string, string> = {
  "incident.triggered": "triggered",
  "incident.reopened": "triggered",
  "incident.unacknowledged": "triggered",
  "incident.acknowledged": "acknowledged",
  "incident.resolved": "resolved",
};
const SEVERITY_RANK: Record<string, number> = { info: 1, warning: 2, error: 3, critical: 4 };

const alertKey = (source: string, fingerprint: string) => `${source}\u0000${fingerprint}`;

/**
 * Decides, for a batch of deliveries in arrival order, which incident each alert belongs
 * to: the incident its fingerprint is already in (dedup), else the open incident of its
 * group (Alertmanager groupKey, PagerDuty incident id), else the incident about the same
 * target or instance (reopened if it resolved moments ago), else, for an alert about a data
 * store naming no target (RedisMissingMaster), the one incident about a target of that store
 * (and the other way round: a target's alert joins the incident such an alert opened just
 * before), else an open incident naming the same service and failure mode within the
 * window, else a new one. Reads in bulk up front; writes nothing (the drain writes what this
 * returns).
 */
export async function groupDeliveries(deps: GroupingDeps, deliveries: readonly DeliveryIn[]): Promise<Grouping> {
  const { tx, now } = deps;
  const incidents = new Map<string, IncidentWork>();
  const alerts = new Map<string, AlertWork>();
  /** Rows of alerts that moved to another incident within this batch, still to be written under their old one. */
  const retired: AlertRecord[] = [];
  const keyMap = new Map<string, string>();
  const newKeys = new Map<string, string>();
  const pdMap = new Map<string, string>();
  const events: AuditInput[] = [];
  let alertCount = 0;

  const track = (r: IncidentRecord): IncidentWork => {
    let w = incidents.get(r.id);
    if (!w) {
      w = { record: r, isNew: false, reopened: false, changed: false, alertsChanged: false, added: 0, updateReasons: new Set(), surface: surfaceOf(r.source), resolveReason: null };
      incidents.set(r.id, w);
    }
    return w;
  };

  // Bulk reads: the alerts already known, the open groups, the PagerDuty incidents.
  const fingerprints = new Map<string, { source: string; fingerprint: string }>();
  const groupKeys = new Set<string>();
  const pdIds = new Set<string>();
  for (const d of deliveries) {
    for (const a of d.alerts) {
      fingerprints.set(alertKey(a.source, a.fingerprint), { source: a.source, fingerprint: a.fingerprint });
      const gk = groupKeyOf(a);
      if (gk) groupKeys.add(gk);
    }
    const pd = pagerdutyIdOf(d);
    if (pd) pdIds.add(pd);
  }
  // Correlation keys of the whole batch, looked up in one query (a storm has many instances).
  const corrKeys = new Set<string>();
  for (const d of deliveries) {
    if (d.source === "pagerduty") continue;
    for (const a of d.alerts) {
      const k = a.status === "firing" ? correlationKeyOf(a, deps.targets ?? {}) : null;
      if (k) corrKeys.add(k);
    }
  }
  const corrOwners = await getKeyOwners(tx, [...corrKeys]);
  const known = await getAlertsByKey(tx, [...fingerprints.values()]);
  for (const r of known) alerts.set(alertKey(r.source, r.fingerprint), { record: { ...r }, delta: 0, dirty: false });
  for (const [k, id] of await getOpenKeys(tx, [...groupKeys])) keyMap.set(k, id);
  for (const [k, id] of corrOwners) keyMap.set(k, id);
  const wanted = new Set<string>([...known.map((r) => r.incidentId).filter((id): id is string => id !== null), ...keyMap.values()]);
  for (const r of await getIncidentsByIds(tx, [...wanted])) track(r);
  for (const r of await getIncidentsByPagerDutyIds(tx, [...pdIds])) {
    track(r);
    pdMap.set(r.pagerdutyIncidentId!, r.id);
  }

  const openIncident = (id: string | null | undefined): IncidentWork | null => {
    const w = id ? incidents.get(id) : undefined;
    return w && w.record.status === "open" ? w : null;
  };
  const bindKey = (key: string | null, inc: IncidentWork) => {
    if (!key || keyMap.get(key) === inc.record.id) return;
    keyMap.set(key, inc.record.id);
    newKeys.set(key, inc.record.id);
  };

  /** The incident about the same target (or instance/job): open and fresh, or resolved just now (to reopen). */
  async function correlatedIncident(alert: Alert): Promise<{ key: string | null; inc: IncidentWork | null; recent: IncidentWork | null }> {
    const key = correlationKeyOf(alert, deps.targets ?? {});
    if (!key) return { key, inc: null, recent: null };
    if (!keyMap.has(key) && !corrKeys.has(key)) {
      for (const [k, id] of await getKeyOwners(tx, [key])) {
        keyMap.set(k, id);
        if (!incidents.has(id)) for (const r of await getIncidentsByIds(tx, [id])) track(r);
      }
    }
    const w = incidents.get(keyMap.get(key) ?? "");
    if (!w || w.record.drill !== alert.drill) return { key, inc: null, recent: null };
    if (w.record.status === "open") {
      const fresh = w.record.lastAlertAt && now.getTime() - w.record.lastAlertAt.getTime() <= deps.windowMs;
      return { key, inc: fresh ? w : null, recent: null };
    }
    const within = deps.reopenWithinMs ?? 0;
    const recent = within > 0 && w.record.resolvedAt && now.getTime() - w.record.resolvedAt.getTime() <= within && !w.record.pagerdutyIncidentId ? w : null;
    return { key, inc: null, recent };
  }

  const isFresh = (w: IncidentWork) => !!w.record.lastAlertAt && now.getTime() - w.record.lastAlertAt.getTime() <= deps.windowMs;

  /**
   * An alert about a data store that names no target and no instance (RedisMissingMaster counts
   * every scraped Redis): the one incident about a target of that store that is open and fresh,
   * or resolved moments ago (to reopen), if exactly one is (RedisDown for cache a moment
   * earlier). Several: it cannot tell which, and opens its own.
   */
  async function storeIncident(alert: Alert, store: DataStore): Promise<{ inc: IncidentWork; resolved: boolean } | null> {
    const prefix = `target:${alert.drill ? "drill:" : ""}${store}/`;
    const within = deps.reopenWithinMs ?? 0;
    const ids = new Set(await getIncidentsByKeyPrefix(tx, prefix, within > 0 ? new Date(now.getTime() - within) : null));
    // This batch's own keys: an incident opened or reopened by an earlier alert of the batch.
    for (const [k, id] of keyMap) if (k.startsWith(prefix)) ids.add(id);
    const untracked = [...ids].filter((id) => !incidents.has(id));
    if (untracked.length > 0) for (const r of await getIncidentsByIds(tx, untracked)) track(r);
    const candidates: { inc: IncidentWork; resolved: boolean }[] = [];
    for (const id of ids) {
      const w = incidents.get(id);
      if (!w || w.record.drill !== alert.drill) continue;
      const r = w.record;
      if (r.status === "open" && isFresh(w)) candidates.push({ inc: w, resolved: false });
      else if (r.status !== "open" && within > 0 && r.resolvedAt && now.getTime() - r.resolvedAt.getTime() <= within && !r.pagerdutyIncidentId) candidates.push({ inc: w, resolved: true });
    }
    return candidates.length === 1 ? candidates[0]! : null;
  }

  /**
   * The other order: an alert about a target (RedisDown for cache) after an alert about its
   * store but no target opened an incident of its own a moment earlier (both fire in one
   * evaluation; their deliveries race). That incident, unless it is about another target of
   * the store already.
   */
  async function untargetedIncident(alert: Alert, key: string): Promise<IncidentWork | null> {
    const t = targetOfAlert(alert, deps.targets ?? {});
    if (!t || (t.kind !== "redis" && t.kind !== "postgres")) return null;
    const skey = storeKeyOf(alert, t.kind);
    if (!keyMap.has(skey)) {
      for (const [k, id] of await getOpenKeys(tx, [skey])) {
        keyMap.set(k, id);
        if (!incidents.has(id)) for (const r of await getIncidentsByIds(tx, [id])) track(r);
      }
    }
    const w = openIncident(keyMap.get(skey));
    if (!w || w.record.drill !== alert.drill || !isFresh(w)) return null;
    const prefix = `target:${alert.drill ? "drill:" : ""}${t.kind}/`;
    const keys = new Set(w.isNew ? [] : await getKeysOf(tx, w.record.id));
    for (const [k, id] of keyMap) if (id === w.record.id) keys.add(k);
    return [...keys].some((k) => k.startsWith(prefix) && k !== key) ? null : w;
  }

  async function windowIncident(alert: Alert): Promise<{ key: string | null; inc: IncidentWork | null; failureMode: string | null }> {
    const failureMode = deps.matcher.match(alert).failureMode;
    const key = windowKeyOf(alert, failureMode);
    if (!key) return { key, inc: null, failureMode };
    if (!keyMap.has(key)) {
      for (const [k, id] of await getOpenKeys(tx, [key])) {
        keyMap.set(k, id);
        if (!incidents.has(id)) for (const r of await getIncidentsByIds(tx, [id])) track(r);
      }
    }
    const inc = openIncident(keyMap.get(key));
    const fresh = inc && inc.record.lastAlertAt && now.getTime() - inc.record.lastAlertAt.getTime() <= deps.windowMs;
    return { key, inc: fresh ? inc : null, failureMode };
  }

  function open(alert: Alert, d: DeliveryIn, failureMode: string | null, pagerdutyIncidentId: string | null): IncidentWork {
    const record: IncidentRecord = {
      id: deps.newId("inc"),
      title: (alert.title || alert.labels.alertname || alert.fingerprint).slice(0, 1000),
      service: alert.service,
      status: "open",
      drill: alert.drill,
      source: alert.source,
      severity: alert.severity,
      failureMode,
      pagerdutyIncidentId,
      pagerdutyStatus: pagerdutyIncidentId ? "triggered" : null,
      alertCount: 0,
      openedCount: 1,
      lastAlertAt: d.receivedAt,
      slackChannel: null,
      slackTs: null,
      slackPermalink: null,
      createdAt: now,
      updatedAt: now,
      resolvedAt: null,
    };
    const w = track(record);
    w.isNew = true;
    events.push({
      kind: "incident.opened",
      actor: "belay",
      surface: w.surface,
      incidentId: record.id,
      data: {
        title: record.title,
        service: record.service,
        source: record.source,
        severity: record.severity,
        failureMode,
        groupKey: alert.groupKey,
        pagerdutyIncidentId,
        drill: record.drill,
        delivery: d.id,
        firstAlert: alert.fingerprint,
      },
    });
    return w;
  }

  function reopen(w: IncidentWork, d: DeliveryIn): void {
    w.record.status = "open";
    w.record.resolvedAt = null;
    w.record.openedCount += 1;
    w.record.updatedAt = now;
    w.reopened = true;
    w.changed = true;
    events.push({ kind: "incident.reopened", actor: "belay", surface: w.surface, incidentId: w.record.id, data: { delivery: d.id, eventType: d.eventType, opened: w.record.openedCount } });
  }

  /** Records the alert's new state under `inc` (or under no open incident). */
  function apply(alert: Alert, inc: IncidentWork | null, d: DeliveryIn): void {
    alertCount++;
    const k = alertKey(alert.source, alert.fingerprint);
    const at = d.receivedAt;
    const ex = alerts.get(k);
    const incidentId = inc?.record.id ?? ex?.record.incidentId ?? null;
    if (!ex) {
      alerts.set(k, {
        record: { source: alert.source, fingerprint: alert.fingerprint, incidentId, status: alert.status, alert, received: 1, firstSeenAt: at, lastSeenAt: at, resolvedAt: alert.status === "resolved" ? at : null },
        delta: 1,
        dirty: true,
      });
      if (inc) {
        inc.added++;
        inc.alertsChanged = true;
        inc.updateReasons.add(alert.status === "firing" ? "alert added" : "resolved alert added");
      }
    } else {
      const moved = ex.record.incidentId !== incidentId;
      const flipped = ex.record.status !== alert.status;
      if (moved) {
        // The alert joins another incident: a row of its own there; the old incident keeps its row (history).
        if (ex.dirty && ex.record.incidentId) retired.push({ ...ex.record, received: ex.delta });
        ex.record = { ...ex.record, incidentId, status: alert.status, alert, received: 0, firstSeenAt: at, lastSeenAt: at, resolvedAt: alert.status === "resolved" ? at : null };
        ex.delta = 0;
      } else {
        ex.record = {
          ...ex.record,
          status: alert.status,
          alert,
          lastSeenAt: at,
          resolvedAt: alert.status === "resolved" ? (ex.record.status === "resolved" ? ex.record.resolvedAt : at) : null,
        };
      }
      ex.delta++;
      ex.dirty = true;
      if (inc && (moved || flipped)) {
        inc.alertsChanged = true;
        if (moved) inc.added++;
        inc.updateReasons.add(moved ? "alert added" : `alert ${alert.status}`);
      }
    }
    if (inc) {
      if (!inc.record.lastAlertAt || inc.record.lastAlertAt < at) inc.record.lastAlertAt = at;
      const rank = SEVERITY_RANK[alert.severity ?? ""] ?? 0;
      if (alert.status === "firing" && rank > (SEVERITY_RANK[inc.record.severity ?? ""] ?? 0)) inc.record.severity = alert.severity;
      inc.record.updatedAt = now;
      inc.changed = true;
    }
  }

  async function assign(alert: Alert, d: DeliveryIn): Promise<IncidentWork | null> {
    const ex = alerts.get(alertKey(alert.source, alert.fingerprint));
    const gk = groupKeyOf(alert);
    let inc = openIncident(ex?.record.incidentId) ?? openIncident(gk ? keyMap.get(gk) : null);
    if (!inc && alert.status === "firing") {
      const corr = await correlatedIncident(alert);
      if (corr.inc) inc = corr.inc;
      else if (corr.recent) {
        // Resolved moments ago because its series vanished (the target went unreachable): the same outage.
        reopen(corr.recent, d);
        inc = corr.recent;
      } else {
        const store = corr.key === null ? untargetedStore(alert) : null;
        const about = store ? await storeIncident(alert, store) : null;
        // Resolved moments ago, like the reopen above: the same outage.
        if (about?.resolved) reopen(about.inc, d);
        const waiting = !about && corr.key?.startsWith("target:") ? await untargetedIncident(alert, corr.key) : null;
        const win = await windowIncident(alert);
        inc = about?.inc ?? waiting ?? win.inc ?? open(alert, d, win.failureMode, null);
        bindKey(win.key, inc);
        // Not about any target yet: the first alert about one of the store's targets joins it.
        if (store && !about) bindKey(storeKeyOf(alert, store), inc);
      }
      bindKey(corr.key, inc);
    }
    if (inc) bindKey(gk, inc);
    return inc;
  }

  for (const d of deliveries) {
    const received = new Map<string, { fingerprint: string; status: string; title: string }[]>();
    const note = (inc: IncidentWork | null, a: Alert) => {
      const key = inc?.record.id ?? "";
      const list = received.get(key) ?? [];
      list.push({ fingerprint: a.fingerprint, status: a.status, title: a.title.slice(0, 200) });
      received.set(key, list);
    };
    const pdId = pagerdutyIdOf(d);
    if (d.source === "pagerduty" && pdId) {
      let inc: IncidentWork | null = pdMap.has(pdId) ? incidents.get(pdMap.get(pdId)!)! : null;
      const alert = d.alerts[0];
      if (PD_START.has(d.eventType) && alert) {
        if (!inc) {
          inc = open(alert, d, deps.matcher.match(alert).failureMode, pdId);
          pdMap.set(pdId, inc.record.id);
        } else if (inc.record.status === "resolved") reopen(inc, d);
        apply({ ...alert, status: "firing" }, inc, d);
        note(inc, alert);
      } else if (inc) {
        if (d.eventType === "incident.resolved" && alert) {
          inc.resolveReason = "resolved in PagerDuty";
          apply({ ...alert, status: "resolved" }, inc.record.status === "open" ? inc : null, d);
        }
        inc.updateReasons.add(d.eventType);
        inc.changed = true;
        if (alert) note(inc, alert);
        else received.set(inc.record.id, received.get(inc.record.id) ?? []);
      } else if (alert) {
        // An update about a PagerDuty incident belay never saw start: recorded, nothing opened.
        apply(alert, null, d);
        note(null, alert);
      }
      if (inc) inc.record.pagerdutyStatus = PD_STATUS[d.eventType] ?? inc.record.pagerdutyStatus;
      if (!inc && !alert) received.set("", []);
    } else {
      for (const a of d.alerts) {
        const inc = await assign(a, d);
        apply(a, inc, d);
        note(inc, a);
      }
      if (d.alerts.length === 0) received.set("", []);
    }
    for (const [incidentId, list] of received) {
      events.push({
        kind: "alert.received",
        actor: d.source === "pagerduty" ? "pagerduty" : d.source,
        surface: d.source,
        incidentId: incidentId || null,
        data: {
          delivery: d.id,
          eventType: d.eventType,
          alerts: list.slice(0, 50),
          count: list.length,
          ...pick(d.meta, ["groupKey", "receiver", "truncatedAlerts", "pagerdutyIncidentId", "eventId", "agent", "note"]),
        },
      });
    }
  }

  const out = new Map<string, { record: AlertRecord; dirty: boolean }>();
  for (const [k, w] of alerts) out.set(k, { record: { ...w.record, received: w.delta }, dirty: w.dirty });
  retired.forEach((r, i) => out.set(`${alertKey(r.source, r.fingerprint)}\u0000retired:${i}`, { record: r, dirty: true }));
  return { incidents, alerts: out, keys: [...newKeys].map(([key, incidentId]) => ({ key, incidentId })), events, alertCount };
}

function surfaceOf(source: string | null): string {
  return source === "pagerduty" ? "pagerduty" : source === "alertmanager" ? "alertmanager" : (source ?? "alertmanager");
}

function groupKeyOf(a: Alert): string | null {
  if (!a.groupKey || a.source === "pagerduty") return null; // PagerDuty groups by its incident id column
  return `${a.source}:${a.drill ? "drill:" : ""}${a.groupKey}`;
}

/** The one data store an alert names when it names no target, instance or job (RedisMissingMaster): null if none or several. */
function untargetedStore(a: Alert): DataStore | null {
  const stores = [...storesNamed(a, a.title)];
  return stores.length === 1 ? stores[0]! : null;
}

/** The key of an open incident about a data store but no target yet. */
function storeKeyOf(a: Alert, store: DataStore): string {
  return `store:${a.drill ? "drill:" : ""}${store}`;
}

function windowKeyOf(a: Alert, failureMode: string | null): string | null {
  if (!a.service || !failureMode) return null;
  return `window:${a.drill ? "drill:" : ""}${a.service}/${failureMode}`;
}

function pagerdutyIdOf(d: DeliveryIn): string | null {
  const v = d.meta.pagerdutyIncidentId;
  return d.source === "pagerduty" && typeof v === "string" && v ? v : null;
}

function pick(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
