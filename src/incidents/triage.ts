import { appendAudit, eventsForRun } from "../audit/chain.ts";
import type { AuditEvent, AuditInput } from "../audit/events.ts";
import type { Catalog } from "../catalog/types.ts";
import type { Engine, RunView } from "../execute/engine.ts";
import type { Logger } from "../execute/deps.ts";
import { REHEARSAL_KUBE } from "../drills/simulation.ts";
import { describeError, isBelayError } from "../errors.ts";
import { alertText, effectiveAlertname } from "../match/alert-text.ts";
import { compileClassifier } from "../match/classify.ts";
import { proposable, type Matcher, type MatchResult } from "../match/types.ts";
import type { PagerDutyClient } from "../pagerduty/client.ts";
import { formatTriageNote } from "../pagerduty/note.ts";
import type { Alert } from "../sdk/alert.ts";
import { resolveTargets, type TargetDirectory, type TargetResolution } from "../plan/targets.ts";
import type { Db } from "../store/driver.ts";
import type { IncidentNotifier, IncidentRef, ThreadRef, TriageReport } from "../surfaces.ts";
import type { JobContext, JobOutcome } from "./jobs.ts";
import { alertsOf, countAlerts, getIncident, setIncidentThread, type IncidentRecord } from "./queries.ts";

export interface TriageDeps {
  db: Db;
  engine: Pick<Engine, "propose" | "drive" | "view" | "playbook">;
  matcher: Matcher;
  catalog: Catalog;
  notifier: IncidentNotifier;
  /** Null when PagerDuty is not configured: no notes. */
  pagerduty: PagerDutyClient | null;
  clock: () => Date;
  newId: (prefix: string) => string;
  logger: Logger;
  /** The configured targets and their `labels:` matchers, for filling target params from the alert (unset: names unknown, a label naming a target is taken as it is). */
  targets?: TargetDirectory;
  /** How long the diagnose steps may take before the report is posted anyway (default 60 s). */
  driveTimeoutMs?: number;
  onEvents?: (events: readonly AuditEvent[]) => void;
}

const ACTIVE_RUN_STATUSES = ["pending", "running", "waiting", "awaiting_approval", "awaiting_decision"];

export function incidentRef(i: IncidentRecord): IncidentRef {
  return { id: i.id, title: i.title, service: i.service, drill: i.drill, pagerdutyIncidentId: i.pagerdutyIncidentId };
}

/**
 * Auto-triage of one incident: match its alerts, propose the best playbook's run with params
 * bound from the alert, let the diagnose steps run (up to the first approval, bounded by a
 * timeout), then post the report in Slack and a note on the PagerDuty incident. Each side
 * effect is remembered in the job's state, so a re-run after a crash does not repeat it.
 */
export function triageHandler(deps: TriageDeps): (ctx: JobContext) => Promise<JobOutcome> {
  const classifier = compileClassifier(deps.catalog);

  function closest(alert: Alert): { id: string; symptom: string }[] {
    const alertname = effectiveAlertname(alert, classifier.knowsAlertname);
    const text = alertText(alert);
    return classifier
      .classify(alert, text, text.toLowerCase(), alertname, alert.labels.alertname !== undefined)
      .slice(0, 3)
      .map((m) => ({ id: m.mode.id, symptom: m.mode.symptom }));
  }

  return async ({ job, remember }) => {
    const incident = await getIncident(deps.db, job.incidentId);
    if (!incident) return { kind: "done" };
    const surface = incident.source === "pagerduty" ? "pagerduty" : "alertmanager";
    const audit = async (events: AuditInput[]) => {
      const now = deps.clock();
      const written = await deps.db.transaction((tx) => appendAudit(tx, events, { now, newId: () => deps.newId("evt") }));
      deps.onEvents?.(written);
    };
    if (incident.status === "resolved" && !job.state.runId && !job.state.thread) {
      await audit([{ kind: "incident.triage_skipped", actor: "belay", surface, incidentId: incident.id, data: { reason: "resolved before triage began" } }]);
      return { kind: "done" };
    }

    const records = await alertsOf(deps.db, incident.id, 50);
    const alerts = records.map((r) => r.alert);
    // The alert that best explains the incident: the firing one whose top candidate scores highest.
    let primary: Alert | null = null;
    let best: MatchResult | null = null;
    for (const a of alerts.filter((x) => x.status === "firing").slice(0, 20)) {
      const m = deps.matcher.match(a);
      if (!best || (m.candidates[0]?.score ?? 0) > (best.candidates[0]?.score ?? 0) || (!best.failureMode && m.failureMode)) {
        primary = a;
        best = m;
      }
    }
    primary ??= alerts[0] ?? null;
    best ??= primary ? deps.matcher.match(primary) : null;
    const reasons: string[] = [];
    const candidates = best?.candidates ?? [];
    // The best playbook the alert can fill; one that needs params no alert carries is named, not proposed.
    const top = best ? proposable(best) : undefined;
    if (top) reasons.push(...top.reasons);
    for (const c of candidates) {
      if (c === top) break;
      reasons.push(`${c.playbook} fits but cannot be proposed from this alert: it needs ${c.missing!.join(", ")}; a human can run it with them`);
    }

    let runId = (job.state.runId as string | undefined) ?? null;
    let targets: TargetResolution[] = (job.state.targets as TargetResolution[] | undefined) ?? [];
    let ask = (job.state.ask as TriageReport["ask"] | undefined) ?? null;
    if (!runId && !ask && top && primary && !job.state.proposeFailed) {
      const pb = deps.engine.playbook(top.playbook);
      const fromAlert = { ...(pb.fromAlert(primary) as Record<string, unknown>) };
      for (const k of Object.keys(fromAlert)) if (fromAlert[k] === undefined) delete fromAlert[k];
      // A drill's alerts name the simulated cluster, a target of drills only.
      const dir: TargetDirectory | null = deps.targets && incident.drill ? { ...deps.targets, kube: { ...deps.targets.kube, [REHEARSAL_KUBE]: {} } } : (deps.targets ?? null);
      // The primary alert may not say which target; another alert of the incident may (one naming it, or matching labels:).
      let resolved = resolveTargets(pb, primary, dir, fromAlert);
      for (const other of alerts.filter((x) => x.status === "firing" && x !== primary).slice(0, 20)) {
        if (resolved.issues.length === 0) break;
        const r = resolveTargets(pb, other, dir, fromAlert);
        if (r.issues.length === 0) resolved = r;
      }
      targets = resolved.resolutions;
      runId = await activeRun(deps.db, incident.id, top.playbook, targetParamsOf(resolved.resolutions));
      if (runId) reasons.push(`run ${runId} of ${top.playbook} is already active for this ${targets.some((t) => t.name) ? "target" : "incident"}`);
      else if (resolved.issues.length > 0) {
        // Which target? Not a failure: the proposal waits for a human to say (the params form).
        ask = { playbook: top.playbook, params: stringParams(resolved.params), issues: resolved.issues };
        await remember({ ask, targets });
      } else {
        try {
          runId = (await deps.engine.propose({ playbookId: top.playbook, params: resolved.params, requestedBy: "belay", surface, incidentId: incident.id })).runId;
        } catch (err) {
          if (!isBelayError(err)) throw err;
          await remember({ proposeFailed: err.message }); // said once, below, from the job's state
        }
      }
      if (runId) await remember({ runId, targets });
    }
    if (job.state.proposeFailed) reasons.push(`could not propose ${top?.playbook}: ${String(job.state.proposeFailed)}`);
    if (ask) reasons.push(...ask.issues.map((i) => `${ask.playbook} needs ${i.field}: ${i.message}`));
    // How the target was found leads: it is what a human checks first when a proposal names one.
    reasons.unshift(...targets.filter((t) => t.name).map((t) => `${t.kind} target ${t.name}: ${t.detail}`));

    let view: RunView | null = null;
    if (runId) view = await driveBounded(deps, runId);

    const counted = (await countAlerts(deps.db, [incident.id])).get(incident.id);
    const report: TriageReport = {
      incident: incidentRef(incident),
      alerts: alerts.slice(0, 20),
      alertCount: counted ?? { total: alerts.length, firing: alerts.filter((a) => a.status === "firing").length },
      failureMode: best?.failureMode ?? incident.failureMode,
      reasons,
      candidates: candidates.map((c) => ({ playbook: c.playbook, score: c.score, reasons: c.reasons })),
      runId,
      closest: top || !primary ? [] : closest(primary),
      targets,
      ask,
    };

    // A resolution that landed while the diagnose steps ran withdraws this run (the resolve job waits for us).
    let thread = job.state.thread as ThreadRef | null | undefined;
    if (thread === undefined) {
      thread = await deps.notifier.postTriage(report);
      await remember({ thread: thread ?? null });
      if (thread) await setIncidentThread(deps.db, incident.id, thread, deps.clock());
    }

    let note: Record<string, unknown> = { sent: false, reason: "not a PagerDuty incident" };
    if (job.state.note) note = job.state.note as Record<string, unknown>;
    else if (incident.pagerdutyIncidentId) {
      if (incident.drill) note = { sent: false, reason: "drill: PagerDuty is never paged for drills" };
      else if (!deps.pagerduty) note = { sent: false, reason: "PagerDuty is not configured (PAGERDUTY_TOKEN, PAGERDUTY_FROM)" };
      else {
        const content = formatTriageNote({ report, view, events: runId ? await eventsForRun(deps.db, runId) : [], thread: thread ?? null });
        const r = await deps.pagerduty.addNote(incident.pagerdutyIncidentId, content);
        if (!r.ok && r.retryable && job.attempts < 3) throw new Error(`PagerDuty note failed: ${r.message}`);
        note = r.ok ? { sent: true, status: r.status } : { sent: false, status: r.status, reason: r.message };
        await audit([
          {
            kind: r.ok ? "pagerduty.note_added" : "pagerduty.note_failed",
            actor: "belay",
            surface: "pagerduty",
            incidentId: incident.id,
            runId,
            data: { pagerdutyIncidentId: incident.pagerdutyIncidentId, status: r.status, ...(r.ok ? {} : { error: r.message }) },
          },
        ]);
      }
      await remember({ note });
    }

    await audit([
      {
        kind: "incident.triaged",
        actor: "belay",
        surface,
        incidentId: incident.id,
        runId,
        data: {
          failureMode: report.failureMode,
          playbook: top?.playbook ?? null,
          candidates: report.candidates.map((c) => ({ playbook: c.playbook, score: c.score })),
          closest: report.closest.map((c) => c.id),
          reasons: reasons.slice(0, 10),
          runStatus: view?.run.status ?? null,
          targets: targets.map((t) => ({ param: t.param, kind: t.kind, name: t.name, how: t.how, detail: t.detail })),
          asked: ask ? ask.issues.map((i) => i.field) : [],
          thread: thread ?? null,
          pagerdutyNote: note,
        },
      },
    ]);
    return { kind: "done" };
  };
}

/** An active run of the playbook for this incident, or for the same target(s) from any incident: one proposal per playbook per target. */
async function activeRun(db: Db, incidentId: string, playbookId: string, target: Record<string, string> | null): Promise<string | null> {
  const r = await db.query<{ id: string }>(
    `SELECT id FROM runs WHERE playbook_id = $2 AND status = ANY($3::text[])
       AND (incident_id = $1 OR ($4::jsonb IS NOT NULL AND params @> $4::jsonb)) ORDER BY created_at LIMIT 1`,
    [incidentId, playbookId, ACTIVE_RUN_STATUSES, target ? JSON.stringify(target) : null],
  );
  return r.rows[0]?.id ?? null;
}

function targetParamsOf(resolutions: readonly TargetResolution[]): Record<string, string> | null {
  const named = resolutions.filter((t) => t.name !== null);
  return named.length > 0 && named.length === resolutions.length ? Object.fromEntries(named.map((t) => [t.param, t.name!])) : null;
}

/** Params as the form shows them (strings), for asking a human for the rest. */
function stringParams(params: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === "string" ? v : Array.isArray(v) ? v.join(",") : typeof v === "object" ? JSON.stringify(v) : String(v);
  }
  return out;
}

/**
 * Drives the run to its first approval (or its end), but no longer than the timeout.
 * `engine.drive` returns at once when it finds the run still `pending` but could not claim
 * it: the engine's own loop had the row locked that instant (SKIP LOCKED) and is about to
 * run it. The report must wait for the diagnose steps all the same, so it looks again.
 */
async function driveBounded(deps: TriageDeps, runId: string): Promise<RunView> {
  const timeoutMs = deps.driveTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const driving = (async () => {
    for (;;) {
      const view = await deps.engine.drive(runId);
      if (view.run.status !== "pending" || timedOut) return view;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    return await Promise.race([
      driving,
      new Promise<RunView>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve(deps.engine.view(runId));
        }, timeoutMs);
      }),
    ]);
  } catch (err) {
    deps.logger.warn({ err, runId }, `diagnose steps could not be driven: ${describeError(err)}`);
    return deps.engine.view(runId);
  } finally {
    clearTimeout(timer);
    // The drive loop keeps going in the background after a timeout; its failure is logged, not thrown.
    driving.catch((err) => deps.logger.warn({ err, runId }, "driving diagnose steps failed"));
  }
}
