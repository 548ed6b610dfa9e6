import { appendAudit } from "../audit/chain.ts";
import type { Logger } from "../execute/deps.ts";
import type { Drill, DrillContext, DrillFaults, DrillProbe, ProbeStats } from "../sdk/drill.ts";
import type { Db } from "../store/driver.ts";
import type { Targets } from "../targets/types.ts";
import { outcomesOfRuns } from "../incidents/run-outcomes.ts";
import { getRun } from "../store/runs.ts";
import { drillAlertPayload, drillFingerprint } from "./alert.ts";
import type { GateOutcome } from "./gate.ts";
import { judgeCriteria, scoresOf } from "./criteria.ts";
import { findRealAlert, observe, type Observation, type RealAlert } from "./observe.ts";
import { realAlertMatcher, type DetectMode } from "./detect.ts";
import type { TargetDirectory } from "../plan/targets.ts";
import { HttpProbe } from "./probe.ts";
import { drillNotRun, type DrillReport, type TimelineItem } from "./report.ts";
import { NO_DRILL_TARGETS, drillTargetsFor, type DrillPhase, type DrillTargetMarks } from "./drill-targets.ts";
import { faultsForMode, readOnlyFaults } from "./faults.ts";
import { insertDrillRun, listDrillRuns, renewDrillLease, saveUndo, setDrillLinks, setDrillStatus, type UndoEntry } from "./store.ts";

export interface DrillDeps {
  db: Db;
  clock: () => Date;
  newId: (prefix: string) => string;
  logger: Logger;
  targets: Targets;
  faults: DrillFaults;
  /** The targets marked `drill: true` (drillTargetMarks of the config): the only ones a drill's run and undo may change. Absent: none. */
  drillTargets?: DrillTargetMarks;
  /** The configured targets' names and `labels:` matchers: how a real alert is found to be about the drill's target. */
  targetDirectory?: TargetDirectory;
  /** This process's name for drill leases. */
  owner: string;
  /** Sends an Alertmanager webhook payload through belay's real ingest route; the HTTP status. */
  sendAlert: (payload: unknown) => Promise<number>;
  /** Stops a belay run the drill leaves unfinished, so nothing runs after the undo. */
  abortRun?: (runId: string, reason: string) => Promise<void>;
  /** The loopback URL a probe of `simulated` points at (a rehearsal's stand-in service). */
  simulatedUrl?: () => Promise<string>;
  /** A drill whose lease lapses this long is presumed dead and undone by the next belay (default 15 s). */
  leaseMs?: number;
  tickMs?: number;
  /** Progress lines, each starting with [DRILL]. */
  progress?: (line: string) => void;
  /**
   * The approval a live drill's injection needs (a high-risk step under the policy; see
   * gate.ts). Absent: nothing asks (tests that drive faults directly). `belay serve` and
   * `belay drill run` always set it.
   */
  approveInjection?: (input: { drill: Drill; drillRunId: string; target: string; startedBy: string; previews: string[]; stopped: () => string | null; onProposed?: (runId: string) => void }) => Promise<GateOutcome>;
  /** Test hook: a test may stop the process here. */
  onPhase?: (phase: "captured" | "injected" | "alerted", drillRunId: string) => void | Promise<void>;
}

export type DrillCtxDeps = Pick<DrillDeps, "targets" | "faults" | "logger" | "drillTargets">;

/**
 * The context a drill's functions get in each phase. `change` (run, undo): the targets marked
 * `drill: true` (a rehearsal: only its simulated cluster) and, in a live drill, the fault
 * primitives. `preview`: dry-run targets and read-only faults; `read` (capture, recovery
 * checks, abort conditions): read-only targets, and read-only faults for capture. A
 * rehearsal never gets real fault primitives.
 */
export function drillContext(deps: DrillCtxDeps, drill: Drill, drillRunId: string, target: string, signal: AbortSignal, phase: DrillPhase | "check" = "change"): DrillContext {
  const mode = drill.meta.mode;
  const faults = faultsForMode(deps.faults, mode);
  const targets =
    phase === "change"
      ? drillTargetsFor(deps.targets, "change", mode, deps.drillTargets ?? NO_DRILL_TARGETS)
      : // Read-only facades are narrower than Targets in the type; at run time a mutating call throws target.read_only.
        (drillTargetsFor(deps.targets, phase === "preview" ? "preview" : "read", mode, NO_DRILL_TARGETS) as Targets);
  return {
    target,
    targets,
    // A recovery check may write probe keys into the (approved, drill: true) target, as a client would.
    faults: phase === "change" || phase === "check" ? faults : readOnlyFaults(faults),
    drillRunId,
    mode,
    scratch: `belay:drill:${drillRunId}:`,
    signal,
    log: (message) => deps.logger.info({ drill: drill.id, drillRunId }, message),
  };
}

/** Who a drill's changes are audited as, and with which clock. */
export interface DrillAuditor {
  actor: string;
  clock: () => Date;
  newId: (prefix: string) => string;
}

/** A drill's change to a real (or simulated) system, in the audit chain like any other. */
export async function auditDrill(db: Db, who: DrillAuditor, kind: `drill.${string}`, data: Record<string, unknown>): Promise<void> {
  await db.transaction((tx) => appendAudit(tx, [{ kind, actor: who.actor, surface: "drill", data }], { now: who.clock(), newId: () => who.newId("evt") }));
}

/** Undoes every injection that may have changed something, newest first; records each result durably and in the audit chain. */
export async function undoInjections(db: Db, drill: Drill, ctx: DrillContext, undo: UndoEntry[], who: DrillAuditor): Promise<UndoEntry[]> {
  for (const entry of [...undo].reverse()) {
    if (!entry.injected || entry.undone) continue;
    const def = drill.injections.find((i) => i.name === entry.name);
    try {
      if (!def) throw new Error(`drill ${drill.id} no longer has an injection "${entry.name}"; undo it by hand`);
      await def.undo({ ...ctx, undo: entry.state });
      entry.undone = true;
      entry.error = null;
    } catch (err) {
      entry.error = (err as Error).message;
    }
    await saveUndo(db, ctx.drillRunId, undo);
    const simulated = def?.simulated ?? false;
    await auditDrill(db, who, entry.undone ? "drill.undone" : "drill.undo_failed", { drillRunId: ctx.drillRunId, drill: drill.id, target: ctx.target, injection: entry.name, simulated, ...(entry.error ? { error: entry.error } : {}) });
  }
  return undo;
}

class DrillStopped extends Error {}

/**
 * Runs one drill: injects (each injection's undo state stored before it runs), sends the
 * synthetic DRILL alert through the real webhook, watches belay detect, propose, get approved
 * and recover, checks the abort conditions, always undoes, and writes the report.
 */
export async function runDrill(deps: DrillDeps, drill: Drill, opts: { target?: string; startedBy: string; drillRunId?: string; probeUrl?: string; onGate?: (runId: string) => void; detect?: DetectMode }): Promise<DrillReport> {
  const detect: DetectMode = opts.detect ?? { mode: "synthetic" };
  const id = opts.drillRunId ?? deps.newId("drl");
  const target = opts.target ?? drill.meta.target.name;
  const leaseMs = deps.leaseMs ?? 15_000;
  const tickMs = deps.tickMs ?? 250;
  const started = deps.clock();
  const ms = (d: Date) => (d.getTime() - started.getTime()) / 1000;
  const timeline: TimelineItem[] = [];
  const say = (event: string, detail: string, at = deps.clock()) => {
    timeline.push({ at: at.toISOString(), t: ms(at), event, detail });
    deps.progress?.(`[DRILL ${id}] ${event}: ${detail}`);
  };
  const abortController = new AbortController();
  const ctx = drillContext(deps, drill, id, target, abortController.signal, "change");
  const previewCtx = drillContext(deps, drill, id, target, abortController.signal, "preview");
  const readCtx = drillContext(deps, drill, id, target, abortController.signal, "read");
  const checkCtx = drillContext(deps, drill, id, target, abortController.signal, "check");
  const auditor: DrillAuditor = { actor: opts.startedBy, clock: deps.clock, newId: deps.newId };
  await insertDrillRun(deps.db, { id, drillId: drill.id, mode: drill.meta.mode, target, startedBy: opts.startedBy, owner: deps.owner, leaseMs, now: started });
  say("drill.started", `${drill.id} (${drill.meta.mode}${drill.meta.mode === "rehearsal" ? ": effects SIMULATED" : ""}) against ${target} by ${opts.startedBy}`);

  let abortReason: string | null = null;
  const heartbeat = setInterval(() => {
    renewDrillLease(deps.db, id, deps.owner, leaseMs)
      .then((r) => {
        // Lost (lapsed, or another belay took it to undo us): stop now and undo; undo is idempotent.
        if (r === null && !abortReason) abortReason = "the drill lost its lease (this process stalled past it, or another belay took the drill over); stopped and undone";
        else if (r?.abortRequested && !abortReason) abortReason = `aborted by ${r.abortRequested}`;
      })
      .catch((err) => deps.logger.warn({ err, drillRunId: id }, "renewing the drill lease failed"));
  }, Math.max(50, Math.floor(leaseMs / 3)));

  const undo: UndoEntry[] = [];
  let injectedAt: Date | null = null;
  /** When the first injection began changing the target: what a real detection is measured from. */
  let faultAt: Date | null = null;
  let realAlert: RealAlert | null = null;
  let undetected: string | null = null;
  let alertedAt: Date | null = null;
  let recoveredAt: Date | null = null;
  let recoveryDetail = "not recovered";
  let failure: string | null = null;
  let obs: Observation = await observe(deps.db, drillFingerprint(id));
  let probe: HttpProbe | null = null;
  let probeSpec: DrillProbe | null = null;
  let probeStats: ProbeStats | null = null;
  const seen = new Set<string>();
  const checkStop = () => {
    if (abortReason) throw new DrillStopped(abortReason);
  };

  try {
    if (drill.meta.mode === "live" && deps.approveInjection) {
      // A live injection is a high-risk change: nothing is injected until it is approved under the policy.
      const previews: string[] = [];
      for (const inj of drill.injections) previews.push(`${inj.name}: ${await inj.preview(previewCtx)}`);
      const gate = await deps.approveInjection({
        drill,
        drillRunId: id,
        target,
        startedBy: opts.startedBy,
        previews,
        stopped: () => abortReason,
        onProposed: (runId) => {
          say("injection.approval_requested", `run ${runId}: the injection is a high-risk step; approve it like any other (belay approve ${runId} inject, or in Slack)`);
          opts.onGate?.(runId);
        },
      });
      if (!gate.approved) {
        abortReason = gate.reason;
        throw new DrillStopped(gate.reason);
      }
      say("injection.approved", `run ${gate.runId}, approved by ${gate.approvedBy.join(" and ")}`);
    }
    for (const inj of drill.injections) {
      checkStop();
      const preview = await inj.preview(previewCtx);
      say(inj.simulated ? "injection.previewed (SIMULATED)" : "injection.previewed", `${inj.name}: ${preview}`);
      const entry: UndoEntry = { name: inj.name, state: await inj.capture(readCtx), injected: true, undone: false };
      undo.push(entry);
      // Durable before anything changes: a crash from here on is undone by the next belay.
      await saveUndo(deps.db, id, undo);
      await deps.onPhase?.("captured", id);
      faultAt ??= deps.clock();
      await inj.run({ ...ctx, undo: entry.state });
      await auditDrill(deps.db, auditor, "drill.injected", { drillRunId: id, drill: drill.id, target, injection: inj.name, preview, simulated: inj.simulated ?? false });
      say(inj.simulated ? "injection.applied (SIMULATED)" : "injection.applied", inj.name);
    }
    injectedAt = deps.clock();
    await deps.onPhase?.("injected", id);

    if (drill.meta.probe) {
      const spec = typeof drill.meta.probe === "function" ? drill.meta.probe({ target }) : drill.meta.probe;
      const url = opts.probeUrl ?? (spec.url === "simulated" && deps.simulatedUrl ? await deps.simulatedUrl() : spec.url);
      probeSpec = { ...spec, url };
      probe = new HttpProbe(probeSpec);
      probe.start();
      say("probe.started", `GET ${url} x${spec.concurrency ?? 1}`);
    }

    checkStop();
    let fingerprint = drillFingerprint(id);
    let since: Date | null = null;
    if (detect.mode === "real") {
      // No synthetic alert: the team's own monitoring must notice, through the real Alertmanager webhook.
      const alertname = drillAlertPayloadName(drill, target);
      const m = realAlertMatcher(deps.targetDirectory, drill.meta.target.kind, target);
      since = faultAt ?? injectedAt;
      say("detect.waiting", `no synthetic alert: waiting up to ${detect.withinS} s for a real ${alertname} about ${target} (${m.how}) on /webhooks/alertmanager`);
      for (;;) {
        checkStop();
        realAlert = await findRealAlert(deps.db, { alertnames: [alertname], since, matches: m.matches });
        if (realAlert) break;
        const waitedS = (deps.clock().getTime() - since.getTime()) / 1000;
        for (const cond of drill.abortConditions) {
          const reason = await cond.check({ ...checkCtx, elapsedS: waitedS, probe: probe?.stats() ?? null });
          if (reason) abortReason = `abort condition ${cond.name}: ${reason}`;
        }
        if (waitedS > detect.withinS) break;
        await new Promise((r) => setTimeout(r, tickMs));
      }
      if (!realAlert) {
        undetected = `monitoring did not detect the fault: no ${alertname} about ${target} reached /webhooks/alertmanager within ${detect.withinS} s of the injection`;
        say("detect.missed", undetected);
        throw new DrillStopped(undetected);
      }
      alertedAt = realAlert.receivedAt;
      fingerprint = realAlert.fingerprint;
      const labels = Object.entries(realAlert.labels).map(([k, v]) => `${k}=${v}`).join(", ");
      say("alert.fired", `${realAlert.alertname} (${labels}) fired${realAlert.startsAt ? ` at ${realAlert.startsAt.toISOString()} (Alertmanager startsAt)` : ""}`, realAlert.startsAt ?? realAlert.receivedAt);
      say("alert.received", `belay received ${realAlert.alertname} (fingerprint ${realAlert.fingerprint})${realAlert.incidentId ? `, incident ${realAlert.incidentId}` : ""}`, realAlert.receivedAt);
      const found: RealAlert = realAlert;
      // On the incident's own trail too: a real (unlabelled) alert's incident is marked as this drill's.
      await deps.db.transaction((tx) => appendAudit(tx, [{ kind: "drill.detected", actor: auditor.actor, surface: "drill", incidentId: found.incidentId, data: { drillRunId: id, drill: drill.id, target, alertname: found.alertname, fingerprint: found.fingerprint, incidentId: found.incidentId, startsAt: found.startsAt?.toISOString() ?? null, receivedAt: found.receivedAt.toISOString() } }], { now: deps.clock(), newId: () => deps.newId("evt") }));
      if (found.incidentId) await setDrillLinks(deps.db, id, { incidentId: realAlert.incidentId });
    } else {
      const status = await deps.sendAlert(drillAlertPayload(drill, { drillRunId: id, target, status: "firing", startsAt: injectedAt }));
      alertedAt = deps.clock();
      say("alert.sent", `DRILL alert ${drillAlertPayloadName(drill, target)} -> /webhooks/alertmanager: HTTP ${status}`);
      if (status !== 202) throw new Error(`belay refused the drill alert (HTTP ${status}); is ALERTMANAGER_TOKEN set?`);
    }
    await deps.onPhase?.("alerted", id);

    const x = drill.meta.expect;
    const horizonS = Math.min(drill.meta.maxDurationS ?? 600, Math.max(x.proposedWithinS + (x.approvedWithinS ?? 0), x.recoveredWithinS ?? 0, drill.meta.holdS ?? 0) + 2);
    for (;;) {
      checkStop();
      const now = deps.clock();
      obs = await observe(deps.db, fingerprint, realAlert ? since : null);
      if (obs.incidentId && !seen.has("incident")) {
        seen.add("incident");
        await setDrillLinks(deps.db, id, { incidentId: obs.incidentId });
        say("incident.opened", `${obs.incidentId}${obs.failureMode ? ` (failure mode ${obs.failureMode})` : ""}`, obs.incidentOpenedAt ?? now);
      }
      if (obs.run && !seen.has("run")) {
        seen.add("run");
        await setDrillLinks(deps.db, id, { runId: obs.run.id });
        say("run.proposed", `${obs.run.playbookId} (run ${obs.run.id})`, obs.run.proposedAt);
      }
      if (obs.triagedAt && !seen.has("triaged")) {
        seen.add("triaged");
        say("incident.triaged", obs.run ? `proposal posted` : "no playbook fits", obs.triagedAt);
      }
      if (obs.ackAt && !seen.has("ack")) {
        seen.add("ack");
        say("human.acknowledged", `first human action by ${obs.ackBy}`, obs.ackAt);
      }
      if (obs.approvedAt && !seen.has("approved")) {
        seen.add("approved");
        say("run.approved", `by ${obs.approvedBy.join(", ")}`, obs.approvedAt);
      }
      if (!recoveredAt && (drill.recoveredCheck || obs.run)) {
        const run = obs.run ? { id: obs.run.id, status: obs.run.status, playbookId: obs.run.playbookId } : null;
        // Without a check of its own, a drill recovers when its run changed something and verified it: a run that found nothing needed is no recovery.
        const v = drill.recoveredCheck ? await drill.recoveredCheck({ ...checkCtx, run }) : run?.status === "succeeded" && (await changedAndVerified(deps.db, run.id));
        const ok = typeof v === "boolean" ? v : v.ok;
        recoveryDetail = typeof v === "boolean" ? (ok ? "recovery check holds" : "not recovered") : (v.detail ?? (ok ? "recovered" : "not recovered"));
        if (ok) {
          recoveredAt = deps.clock();
          say("system.recovered", recoveryDetail, recoveredAt);
        }
      }
      const elapsedS = (now.getTime() - injectedAt.getTime()) / 1000;
      for (const cond of drill.abortConditions) {
        const reason = await cond.check({ ...checkCtx, elapsedS, probe: probe?.stats() ?? null });
        if (reason) abortReason = `abort condition ${cond.name}: ${reason}`;
      }
      if (elapsedS > (drill.meta.maxDurationS ?? 600)) abortReason = `ran past its ${drill.meta.maxDurationS ?? 600} s limit`;
      checkStop();
      if (elapsedS < (drill.meta.holdS ?? 0)) {
        await new Promise((r) => setTimeout(r, tickMs));
        continue;
      }
      const runOver = obs.run !== null && ["succeeded", "failed", "rolled_back", "aborted"].includes(obs.run.status);
      const measuring = x.recoveredWithinS !== undefined;
      if (measuring ? recoveredAt !== null && (!obs.run || runOver) : x.playbook ? runOver || (obs.run !== null && x.approvedWithinS === undefined) : obs.triagedAt !== null) break;
      if (obs.run && ["failed", "rolled_back", "aborted"].includes(obs.run.status) && !recoveredAt) {
        say("run.finished", `run ${obs.run.id} ended ${obs.run.status} before the system recovered`);
        break;
      }
      if ((now.getTime() - (alertedAt?.getTime() ?? now.getTime())) / 1000 > horizonS) {
        say("drill.timed_out", `no ${recoveredAt ? "end" : "recovery"} within ${Math.round(horizonS)} s`);
        break;
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
  } catch (err) {
    if (err instanceof DrillStopped) {
      if (err.message !== undetected) say("drill.aborted", err.message);
    }
    else {
      failure = (err as Error).message;
      say("drill.failed", failure);
    }
  } finally {
    clearInterval(heartbeat);
    abortController.abort();
    await setDrillStatus(deps.db, id, "undoing", abortReason ?? failure, null);
    const stats = probe ? await probe.stop() : null;
    if (stats) say("probe.stopped", `${stats.requests} requests, error rate ${(stats.errorRate * 100).toFixed(1)}%, p95 ${stats.p95Ms === null ? "—" : Math.round(stats.p95Ms)} ms`);
    await undoInjections(deps.db, drill, drillContext(deps, drill, id, target, new AbortController().signal, "change"), undo, auditor);
    for (const u of undo) say(u.undone ? "injection.undone" : "injection.undo_failed", `${u.name}${u.error ? `: ${u.error}` : ""}`);
    obs = await observe(deps.db, realAlert?.fingerprint ?? drillFingerprint(id), realAlert ? (faultAt ?? injectedAt) : null).catch(() => obs);
    if (obs.run && !["succeeded", "failed", "rolled_back", "aborted", "previewed"].includes(obs.run.status) && deps.abortRun) {
      await deps.abortRun(obs.run.id, `drill ${id} ended`).catch((err) => deps.logger.warn({ err }, "could not abort the drill's run"));
      say("run.aborted", `run ${obs.run.id} was still ${obs.run.status}: aborted so nothing runs after the undo`);
    }
    // A real alert is the team's monitoring's to resolve (after the undo); a synthetic one is ours.
    if (alertedAt && !realAlert) {
      const status = await deps.sendAlert(drillAlertPayload(drill, { drillRunId: id, target, status: "resolved", startsAt: injectedAt ?? started, endsAt: deps.clock() })).catch(() => 0);
      say("alert.resolved", `DRILL alert resolved: HTTP ${status}`);
      // Give ingestion a moment to close the incident, so its review has an end.
      for (let i = 0; i < 30 && obs.incidentId; i++) {
        const r = await deps.db.query<{ status: string }>(`SELECT status FROM incidents WHERE id = $1`, [obs.incidentId]);
        if (r.rows[0]?.status !== "open") break;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    probeStats = stats;
  }

  const measured = { injectedAt, alertedAt, recoveredAt, recoveryDetail, probe: probeStats, probeSpec, obs, ...(detect.mode === "real" ? { real: { withinS: detect.withinS, faultAt, alert: realAlert } } : {}) };
  const criteria = judgeCriteria(drill, measured);
  const undoneAll = undo.every((u) => u.undone || !u.injected);
  // Monitoring that never fired is the drill's finding, not an abort: the drill failed.
  const stopped = abortReason && abortReason !== undetected ? abortReason : null;
  const status: DrillReport["status"] = stopped ? "aborted" : !failure && undoneAll && criteria.every((c) => c.ok) ? "passed" : "failed";
  // A drill run that never injected tested nothing: it stays out of the trend.
  const earlier = (await listDrillRuns(deps.db, { drillId: drill.id, limit: 12 })).filter((r) => r.id !== id && r.report && !drillNotRun(r.report as unknown as DrillReport)).slice(0, 6);
  const finished = deps.clock();
  const report: DrillReport = {
    drill: { id: drill.id, title: drill.meta.title, hypothesis: drill.meta.hypothesis, mode: drill.meta.mode, target, blastRadius: drill.meta.blastRadius, rehearsalNote: drill.meta.rehearsalNote ?? null },
    drillRunId: id,
    status,
    reason: stopped ?? undetected ?? failure ?? (undoneAll ? null : "an injection could not be undone: check the target by hand"),
    startedBy: opts.startedBy,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    incidentId: obs.incidentId,
    runId: obs.run?.id ?? null,
    proposedPlaybook: obs.run?.playbookId ?? null,
    hypothesisHeld: stopped ? null : status === "passed",
    detection: detect.mode === "real" ? { mode: "real", withinS: detect.withinS, alertname: drillAlertPayloadName(drill, target), fired: realAlert !== null, startsAt: realAlert?.startsAt?.toISOString() ?? null, receivedAt: realAlert?.receivedAt.toISOString() ?? null, fingerprint: realAlert?.fingerprint ?? null } : { mode: "synthetic" },
    criteria,
    scores: scoresOf(measured),
    probe: probeStats,
    simulated: drill.meta.mode === "rehearsal" ? [...deps.faults.simulation.effects] : [],
    undo: undo.map((u) => ({ name: u.name, undone: u.undone, error: u.error ?? null })),
    timeline: [...timeline].sort((a, b) => a.at.localeCompare(b.at)),
    trend: earlier.map((r) => ({ drillRunId: r.id, startedAt: r.startedAt.toISOString(), status: r.status, scores: (r.report?.scores as DrillReport["scores"] | undefined) ?? null })),
  };
  await setDrillStatus(deps.db, id, status, report.reason, finished, report as unknown as Record<string, unknown>);
  return report;
}

function drillAlertPayloadName(drill: Drill, target: string): string {
  const a = typeof drill.meta.alert === "function" ? drill.meta.alert({ target }) : drill.meta.alert;
  return a.alertname;
}

/** Whether the run changed something and verified it (its outcome, not its status). */
async function changedAndVerified(db: Db, runId: string): Promise<boolean> {
  const run = await getRun(db, runId);
  return run ? (await outcomesOfRuns(db, [run])).get(runId)!.fixed : false;
}
