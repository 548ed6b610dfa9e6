import { renderLineChartPng } from "../charts/line.ts";
import type { Logger } from "../execute/deps.ts";
import { describeError, isBelayError } from "../errors.ts";
import type { Db } from "../store/driver.ts";
import type { Targets } from "../targets/types.ts";
import { alertsOf, getIncident } from "./queries.ts";

export interface IncidentChart {
  png: Buffer;
  filename: string;
  title: string;
  /** What was queried, and over which window. */
  expr: string;
  from: Date;
  to: Date;
}

export interface ChartDeps {
  db: Db;
  targets: Pick<Targets, "prometheus">;
  clock: () => Date;
  logger: Logger;
}

/** Before the incident, for contrast. */
const LEAD_MS = 10 * 60_000;
const MAX_POINTS = 240;
/** `expr > 90` (a trailing comparison with a number): chart the left side, draw the threshold. */
const THRESHOLD = /^([\s\S]*?)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i;

/** Splits the alert's expression into what to plot and its threshold, if it ends in one. */
export function plotOf(expr: string): { plot: string; threshold: { value: number; label: string } | null } {
  const m = THRESHOLD.exec(expr.trim());
  if (!m || !m[1]) return { plot: expr.trim(), threshold: null };
  return { plot: m[1].trim(), threshold: { value: Number(m[3]), label: `${m[2]} ${m[3]}` } };
}

/**
 * The firing expression over the incident window (from ten minutes before its earliest
 * alert to its resolution, or now) as a PNG, read from the only configured Prometheus. Null when there is
 * nothing to draw: no Prometheus target, no alert with an expression, or no data.
 */
export async function incidentChart(deps: ChartDeps, incidentId: string): Promise<IncidentChart | null> {
  const incident = await getIncident(deps.db, incidentId);
  if (!incident) return null;
  const alerts = (await alertsOf(deps.db, incidentId)).map((a) => a.alert);
  const alert = alerts.find((a) => a.expr);
  if (!alert?.expr) return null;
  let prometheus;
  try {
    prometheus = deps.targets.prometheus();
  } catch (err) {
    if (isBelayError(err, "config.invalid")) return null; // no Prometheus configured (or several): no chart
    throw err;
  }
  const starts = alerts.map((a) => (a.startsAt ? Date.parse(a.startsAt) : NaN)).filter((t) => Number.isFinite(t) && t > 0);
  const began = starts.length ? Math.min(...starts) : incident.createdAt.getTime();
  const to = incident.resolvedAt ?? deps.clock();
  const from = new Date(Math.min(began, to.getTime()) - LEAD_MS);
  const step = Math.max(1, Math.ceil((to.getTime() - from.getTime()) / 1000 / MAX_POINTS));
  const { plot, threshold } = plotOf(alert.expr);
  let series;
  try {
    series = await prometheus.queryRange(plot, from, to, step);
  } catch (err) {
    deps.logger.warn({ incident: incidentId, err: describeError(err) }, "no incident chart: the expression could not be read");
    return null;
  }
  if (series.length === 0) return null;
  const alertname = alert.labels.alertname ?? alert.title;
  const png = renderLineChartPng({
    title: `${alertname}: the alert's expression`,
    subtitle: alert.expr,
    series: series.slice(0, 5).map((s) => ({
      name: s.labels.instance ?? (Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(",") || plot),
      points: s.values.map((v) => [Date.parse(v.at), v.value] as const),
    })),
    window: { from: began, to: to.getTime(), label: "incident" },
    ...(threshold ? { threshold } : {}),
  });
  return { png, filename: `${incident.id}-${alertname}.png`.replace(/[^A-Za-z0-9._-]/g, "_"), title: `${alertname} over the incident`, expr: alert.expr, from, to };
}
