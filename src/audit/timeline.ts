import type { AuditEvent } from "./events.ts";

/** One line of a timeline: when, who (through what), what, to which step, and the gist. */
export interface TimelineEntry {
  at: string;
  actor: string;
  surface: string;
  kind: string;
  runId: string | null;
  incidentId: string | null;
  step: string | null;
  summary: string;
}

function gist(e: AuditEvent): string {
  const d = e.data as Record<string, any>;
  switch (e.kind) {
    case "run.proposed":
      return `proposed ${d.playbook}${d.dryRun ? " (dry run)" : ""}, plan ${String(d.planHash).slice(0, 12)}`;
    case "params.bound":
      return `params ${JSON.stringify(d.params)}`;
    case "step.previewed":
      return `preview: ${String(d.preview).split("\n")[0]}`;
    case "step.approved":
      return `approved (${d.risk} risk; ${d.approvers?.length ?? 0}/${d.required}${d.satisfied ? ", enough" : ""})`;
    case "approval.refused":
      return `${d.decision} refused: ${d.reason}`;
    case "step.started":
      return d.approvedBy ? `started, approved by ${d.approvedBy.join(", ")}` : "started";
    case "step.verify_failed":
      return `verify failed: ${d.detail}${d.rollingBack ? "; rolling back" : ""}`;
    case "step.failed":
      return `failed: ${d.error}`;
    case "step.skipped":
      return `skipped: ${d.reason}`;
    case "step.uncertain":
      return `uncertain: ${d.reason ?? `interrupted while ${d.interrupted}`}`;
    case "step.decided":
      return `decision: ${d.choice}`;
    case "run.failed":
    case "run.aborted":
      return d.reason ? String(d.reason) : e.kind;
    case "notify.sent":
      return `notified: ${d.message}`;
    case "break_glass.used":
      return `BREAK-GLASS ${d.decision} for ${d.onBehalfOf} by login ${d.login} on ${d.host}: ${d.reason}`;
    default:
      return d.detail ? String(d.detail) : "";
  }
}

export function toTimeline(events: readonly AuditEvent[]): TimelineEntry[] {
  return events.map((e) => ({
    at: e.at,
    actor: e.actor,
    surface: e.surface,
    kind: e.kind,
    runId: e.runId,
    incidentId: e.incidentId,
    step: e.step,
    summary: gist(e),
  }));
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function timelineMarkdown(title: string, entries: readonly TimelineEntry[]): string {
  const lines = [`# ${title}`, "", "| time (UTC) | who | event | step | detail |", "|---|---|---|---|---|"];
  for (const t of entries) {
    lines.push(`| ${t.at.replace("T", " ").replace("Z", "")} | ${cell(t.actor)} (${t.surface}) | ${t.kind} | ${cell(t.step ?? "")} | ${cell(t.summary)} |`);
  }
  return `${lines.join("\n")}\n`;
}
