import { appendAudit, eventsForRun } from "../audit/chain.ts";
import type { AuditEvent, AuditInput } from "../audit/events.ts";
import type { Catalog } from "../catalog/types.ts";
import type { Engine, RunView } from "../execute/engine.ts";
import type { Logger } from "../execute/deps.ts";
import { describeError, isBelayError } from "../errors.ts";
import { alertText, effectiveAlertname } from "../match/alert-text.ts";
import { compileClassifier } from "../match/classify.ts";
import type { Matcher, MatchResult } from "../match/types.ts";
import type { PagerDutyClient } from "../pagerduty/client.ts";
import { formatTriageNote } from "../pagerduty/note.ts";
import type { Alert } from "../sdk/alert.ts";
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
    const top = candidates[0];
    if (top) reasons.push(...top.reasons);

    let runId = (job.state.runId as string | undefined) ?? null;
    if (!runId && top && primary && !job.state.proposeFailed) {
      runId = await activeRun(deps.db, incident.id, top.playbook);
      if (runId) reasons.push(`run ${runId} of ${top.playbook} is already active for this incident`);
      else {
        try {
          const pb = deps.engine.playbook(top.playbook);
          const params = { ...(pb.fromAlert(primary) as Record<string, unknown>) };
          for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
          runId = (await deps.engine.propose({ playbookId: top.playbook, params, requestedBy: "belay", surface, incidentId: incident.id })).runId;
        } catch (err) {
          if (!isBelayError(err)) throw err;
          await remember({ proposeFailed: err.message }); // said once, below, from the job's state
        }
      }
      if (runId) await remember({ runId });
    }
    if (job.state.proposeFailed) reasons.push(`could not propose ${top?.playbook}: ${String(job.state.proposeFailed)}`);

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
          thread: thread ?? null,
          pagerdutyNote: note,
        },
      },
    ]);
    return { kind: "done" };
  };
}

async function activeRun(db: Db, incidentId: string, playbookId: string): Promise<string | null> {
  const r = await db.query<{ id: string }>(
    `SELECT id FROM runs WHERE incident_id = $1 AND playbook_id = $2 AND status = ANY($3::text[]) ORDER BY created_at LIMIT 1`,
    [incidentId, playbookId, ACTIVE_RUN_STATUSES],
  );
  return r.rows[0]?.id ?? null;
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
