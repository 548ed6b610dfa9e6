import { eventsForIncident, eventsForRun, verifyChain } from "../audit/chain.ts";
import type { AuditEvent } from "../audit/events.ts";
import type { Core } from "../core.ts";
import type { DrillReport } from "../drills/report.ts";
import { listDrillRuns, type DrillRunRecord } from "../drills/store.ts";
import type { RunView } from "../execute/engine.ts";
import { runOutcome, type RunOutcome } from "../execute/outcome.ts";
import { isBelayError } from "../errors.ts";
import { alertsOf, countAlerts, getIncident, getKeysOf, listIncidents, type AlertRecord, type IncidentRecord } from "../incidents/queries.ts";
import { buildPostmortem, type PostmortemDraft } from "../postmortem/draft.ts";
import { listRuns, type RunRecord } from "../store/runs.ts";
import type { Targets } from "../targets/types.ts";

/*
 * What the console's pages show, read through the stores and the engine's own views. No
 * decisions here: outcomes, approval tallies and the chain's verdict are the same functions
 * Slack, the CLI and the postmortem use.
 */

export type ReadDeps = Pick<Core, "db" | "engine" | "drills" | "config"> & { targets: Pick<Targets, "prometheus"> };

export interface IncidentRow {
  incident: IncidentRecord;
  alerts: { firing: number; total: number };
  /** `kind/name` of the targets the incident is about (its `target:` keys). */
  targets: string[];
  latestRun: { run: RunRecord; outcome: RunOutcome } | null;
}

export interface IndexData {
  open: IncidentRow[];
  recent: IncidentRow[];
  waiting: RunRecord[];
  drills: DrillRunRecord[];
}

export interface RunData {
  view: RunView;
  events: AuditEvent[];
  outcome: RunOutcome;
}

export interface ChainVerdict {
  ok: boolean;
  events: number;
  headHash: string;
  problem: string | null;
  checkedAt: Date;
}

export interface IncidentData {
  incident: IncidentRecord;
  alerts: AlertRecord[];
  targets: string[];
  runs: RunData[];
  timeline: AuditEvent[];
  chain: ChainVerdict;
  /** A Prometheus target exists and an alert carries an expression: the page links the chart. */
  hasChart: boolean;
}

export interface DrillGroup {
  drillId: string;
  title: string;
  runs: (DrillRunRecord & { parsedReport: DrillReport | null })[];
}

/** The chain is walked once per head (and at most every `ttlMs`): pages re-render on every event. */
export function chainChecker(db: Core["db"], clock: () => Date, ttlMs = 30_000): () => Promise<ChainVerdict> {
  let cached: { head: string; at: number; verdict: ChainVerdict } | null = null;
  return async () => {
    const head = (await db.query<{ hash: string; events: number }>("SELECT hash, events FROM audit_head WHERE id = 1")).rows[0];
    const key = head ? `${head.hash}:${head.events}` : "empty";
    const now = clock();
    if (cached && cached.head === key && now.getTime() - cached.at < ttlMs) return cached.verdict;
    const r = await verifyChain(db);
    const verdict = { ok: r.ok, events: r.events, headHash: r.headHash, problem: r.broken?.message ?? null, checkedAt: now };
    cached = { head: key, at: now.getTime(), verdict };
    return verdict;
  };
}

async function incidentRow(deps: ReadDeps, incident: IncidentRecord, counts: Map<string, { firing: number; total: number }>): Promise<IncidentRow> {
  const [keys, runs] = await Promise.all([getKeysOf(deps.db, incident.id), listRuns(deps.db, { limit: 1, incidentId: incident.id })]);
  let latestRun: IncidentRow["latestRun"] = null;
  if (runs[0]) {
    const view = await deps.engine.view(runs[0].id);
    latestRun = { run: view.run, outcome: runOutcome(view.run, view.steps, await eventsForRun(deps.db, view.run.id)) };
  }
  return { incident, alerts: counts.get(incident.id) ?? { firing: 0, total: 0 }, targets: targetsOf(keys), latestRun };
}

function targetsOf(keys: readonly string[]): string[] {
  return keys.filter((k) => k.startsWith("target:")).map((k) => k.slice("target:".length)).sort();
}

export async function readIndex(deps: ReadDeps, opts: { recent?: number } = {}): Promise<IndexData> {
  const [open, resolved, waiting, drillRuns] = await Promise.all([
    listIncidents(deps.db, { status: "open", limit: 100 }),
    listIncidents(deps.db, { status: "resolved", limit: opts.recent ?? 20 }),
    listRuns(deps.db, { limit: 50, statuses: ["awaiting_approval", "awaiting_decision"] }),
    listDrillRuns(deps.db, { limit: 50 }),
  ]);
  const counts = await countAlerts(deps.db, [...open, ...resolved].map((i) => i.id));
  return {
    open: await Promise.all(open.map((i) => incidentRow(deps, i, counts))),
    recent: await Promise.all(resolved.map((i) => incidentRow(deps, i, counts))),
    waiting: waiting.reverse(),
    drills: drillRuns.filter((d) => d.status === "running" || d.status === "undoing"),
  };
}

/** One run: the engine's view, its audit events and its outcome. Null when there is no such run. */
export async function readRun(deps: ReadDeps, runId: string): Promise<RunData | null> {
  let view: RunView;
  try {
    view = await deps.engine.view(runId);
  } catch (err) {
    if (isBelayError(err, "run.not_found")) return null;
    throw err;
  }
  const events = await eventsForRun(deps.db, runId);
  return { view, events, outcome: runOutcome(view.run, view.steps, events) };
}

export async function readIncident(deps: ReadDeps, incidentId: string, chain: () => Promise<ChainVerdict>): Promise<IncidentData | null> {
  const incident = await getIncident(deps.db, incidentId);
  if (!incident) return null;
  const [alerts, keys, runs, timeline, verdict] = await Promise.all([
    alertsOf(deps.db, incidentId, 200),
    getKeysOf(deps.db, incidentId),
    listRuns(deps.db, { limit: 20, incidentId }),
    eventsForIncident(deps.db, incidentId),
    chain(),
  ]);
  const runData = (await Promise.all(runs.reverse().map((r) => readRun(deps, r.id)))).filter((r): r is RunData => r !== null);
  return { incident, alerts, targets: targetsOf(keys), runs: runData, timeline, chain: verdict, hasChart: alerts.some((a) => a.alert.expr) && hasPrometheus(deps) };
}

/** Whether one Prometheus target is configured (what the incident chart reads). */
export function hasPrometheus(deps: Pick<ReadDeps, "targets">): boolean {
  try {
    deps.targets.prometheus();
    return true;
  } catch {
    return false;
  }
}

/** Every drill that has run (and every defined one that has not), newest run first. */
export async function readDrills(deps: ReadDeps): Promise<DrillGroup[]> {
  const runs = await listDrillRuns(deps.db, { limit: 500 });
  const groups = new Map<string, DrillGroup>();
  for (const [id, def] of deps.drills?.defs ?? []) groups.set(id, { drillId: id, title: def.meta.title, runs: [] });
  for (const r of runs) {
    const report = r.report as DrillReport | null;
    const g = groups.get(r.drillId) ?? { drillId: r.drillId, title: r.drillId, runs: [] };
    if (g.title === r.drillId && report?.drill?.title) g.title = report.drill.title;
    g.runs.push({ ...r, parsedReport: report && typeof report === "object" && "scores" in report ? report : null });
    groups.set(r.drillId, g);
  }
  return [...groups.values()].sort((a, b) => a.drillId.localeCompare(b.drillId));
}

/** The postmortem draft of an incident (the chain verified first), or null when there is no such incident. */
export async function readPostmortem(deps: ReadDeps, incidentId: string, clock: () => Date): Promise<PostmortemDraft | null> {
  if (!(await getIncident(deps.db, incidentId))) return null;
  return buildPostmortem(deps.db, incidentId, clock);
}
