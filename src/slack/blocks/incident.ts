import type { RunOutcome } from "../../execute/outcome.ts";
import type { TriageReport } from "../../surfaces.ts";
import type { MessageBody } from "../publisher.ts";
import { OUTCOME_MARK, type RunContext } from "./run.ts";
import { clip, context, esc, section } from "./text.ts";

/** What an incident's thread root shows: stored with the message, re-rendered when it changes. */
export interface IncidentContext {
  incident: TriageReport["incident"];
  alerts: { title: string; source: string; severity: string | null }[];
  /** Every alert of the incident (absent in messages stored before it was kept: `alerts.length`). */
  alertCount?: { total: number; firing: number };
  failureMode: string | null;
  reasons: string[];
  candidates: { playbook: string; score: number; reasons: string[] }[];
  closest: { id: string; symptom: string }[];
  runId: string | null;
  /** How the proposal's targets were found (label, matcher, only target). */
  targets?: { kind: string; name: string | null; how: string; detail: string }[];
  /** What belay could not fill and asks for, with the form's button. */
  ask?: { playbook: string; params: Record<string, string>; issues: { field: string; message: string }[] } | null;
  resolved?: boolean;
  withdrawn?: string[];
}

export function incidentContext(r: TriageReport): IncidentContext {
  return {
    incident: { ...r.incident },
    alerts: r.alerts.slice(0, 20).map((a) => ({ title: a.title, source: a.source, severity: a.severity })),
    alertCount: r.alertCount ?? { total: r.alerts.length, firing: r.alerts.filter((a) => a.status === "firing").length },
    failureMode: r.failureMode,
    reasons: [...r.reasons],
    candidates: r.candidates.slice(0, 5).map((c) => ({ playbook: c.playbook, score: c.score, reasons: [...c.reasons] })),
    closest: r.closest.slice(0, 5).map((c) => ({ ...c })),
    runId: r.runId,
    targets: (r.targets ?? []).map((t) => ({ kind: t.kind, name: t.name, how: t.how, detail: t.detail })),
    ask: r.ask ? { playbook: r.ask.playbook, params: { ...r.ask.params }, issues: r.ask.issues.map((i) => ({ ...i })) } : null,
  };
}

/** The value of the "give the params" button: what the form needs to open (not a grant: the form proposes as whoever submits it). */
export function askButtonValue(incidentId: string, ask: NonNullable<IncidentContext["ask"]>): string {
  return JSON.stringify({ incident: incidentId, playbook: ask.playbook, params: ask.params, issues: ask.issues }).slice(0, 2000);
}

/** The run message's header facts for a run proposed by triage. */
export function runContextFromTriage(r: TriageReport): RunContext {
  const a = r.alerts[0];
  return {
    incident: { id: r.incident.id, title: r.incident.title, service: r.incident.service, drill: r.incident.drill },
    alert: a ? { title: a.title, source: a.source } : null,
    failureMode: r.failureMode,
    reasons: [...r.reasons],
  };
}

/** The incident's run as its root shows it: what the run did, computed from its steps and events. */
export interface IncidentRunLine {
  id: string;
  outcome: RunOutcome;
  /** The step waiting for approval, if any. */
  waitingOn: string | null;
}

/** One line saying what the incident's run actually did (or is waiting for). */
function runLine(r: IncidentRunLine): string {
  const o = r.outcome;
  if (o.kind === "in_progress") {
    return r.waitingOn
      ? `Proposed run \`${r.id}\` in the thread: diagnostics ran; \`${esc(r.waitingOn)}\` waits for approval.`
      : `Run \`${r.id}\` in the thread: ${esc(o.label)}.`;
  }
  return `${OUTCOME_MARK[o.kind]} Run \`${r.id}\` *${esc(o.label)}*${o.reasons.length ? `: ${esc(o.reasons.slice(0, 2).join("; "))}` : ""}`;
}

/** The thread root of an incident: what fired, what belay thinks it is, and what it proposes. */
export function renderIncidentMessage(ctx: IncidentContext, opts: { ackToken: string | null; run?: IncidentRunLine | null }): MessageBody {
  const i = ctx.incident;
  const mark = ctx.resolved ? ":white_check_mark:" : i.drill ? ":performing_arts:" : ":rotating_light:";
  const blocks: unknown[] = [
    section(`${mark} *${esc(i.title)}*${ctx.resolved ? " — *resolved*" : ""}\nIncident \`${i.id}\`${i.service ? ` · service ${esc(i.service)}` : ""}${i.drill ? " · *drill*" : ""}${i.pagerdutyIncidentId ? ` · PagerDuty \`${esc(i.pagerdutyIncidentId)}\`` : ""}`),
  ];
  // The counts are the incident's, not the few alerts the context lists.
  const total = Math.max(ctx.alertCount?.total ?? ctx.alerts.length, ctx.alerts.length);
  if (total > 0) {
    const firing = ctx.alertCount?.firing ?? null;
    const shown = ctx.alerts.slice(0, 5);
    const count = `${total}${firing !== null && firing !== total ? `, ${firing} firing` : ""}`;
    blocks.push(section(`*Alerts* (${count})\n${shown.map((a) => `• ${esc(a.title || "(untitled)")} _${a.source}${a.severity ? `, ${a.severity}` : ""}_`).join("\n")}${total > shown.length && shown.length > 0 ? `\n…and ${total - shown.length} more` : ""}`));
  }
  blocks.push(section(`*Failure mode* ${ctx.failureMode ? `\`${esc(ctx.failureMode)}\`` : "_not recognised_"}${ctx.reasons.slice(0, 6).map((r) => `\n• ${esc(r)}`).join("")}`));
  if (ctx.candidates.length > 0) {
    blocks.push(section(`*Playbooks*\n${ctx.candidates.map((c, n) => `${n + 1}. \`${esc(c.playbook)}\` ${c.score.toFixed(2)}${c.reasons[0] ? ` — ${esc(c.reasons[0])}` : ""}`).join("\n")}`));
  } else if (ctx.closest.length > 0) {
    blocks.push(section(`*No playbook fits.* Closest known failure modes:\n${ctx.closest.map((c) => `• \`${esc(c.id)}\` ${esc(c.symptom)}`).join("\n")}`));
  } else {
    blocks.push(section("*No playbook fits* and no known failure mode is close."));
  }
  if (ctx.ask && !ctx.resolved) {
    blocks.push(section(`*\`${esc(ctx.ask.playbook)}\` needs a human:*${ctx.ask.issues.map((i) => `\n• \`${esc(i.field)}\`: ${esc(i.message)}`).join("")}`));
    blocks.push({
      type: "actions",
      block_id: "incident:ask",
      elements: [{ type: "button", text: { type: "plain_text", text: `Propose ${clip(ctx.ask.playbook, 40)}…` }, action_id: "belay.form.open", value: askButtonValue(i.id, ctx.ask) }],
    });
  }
  // Say what the run actually did: "wait for approval" only while a step does.
  const run = opts.run && opts.run.id === ctx.runId ? runLine(opts.run) : ctx.runId ? `Run \`${ctx.runId}\` in the thread.` : null;
  if (ctx.resolved) {
    blocks.push(context(`All alerts resolved.${ctx.withdrawn?.length ? ` Withdrawn proposals: ${ctx.withdrawn.map((r) => `\`${r}\``).join(", ")}` : ""}${run && !ctx.withdrawn?.includes(ctx.runId ?? "") ? ` ${run}` : ""}`));
  } else if (run) {
    blocks.push(context(run));
  }
  if (opts.ackToken) {
    blocks.push({
      type: "actions",
      block_id: "incident:pagerduty",
      elements: [{ type: "button", text: { type: "plain_text", text: "Acknowledge in PagerDuty" }, action_id: "belay.pagerduty.acknowledge", value: opts.ackToken }],
    });
  }
  return { text: clip(`${ctx.resolved ? "Resolved: " : ""}${i.title} (incident ${i.id})`, 3000), blocks };
}
