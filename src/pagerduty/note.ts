import type { AuditEvent } from "../audit/events.ts";
import type { RunView } from "../execute/engine.ts";
import { outcomeLine, runOutcome } from "../execute/outcome.ts";
import { outputText } from "../execute/output-text.ts";
import type { ThreadRef, TriageReport } from "../surfaces.ts";

const FINDING_CHARS = 300;

/**
 * The PagerDuty incident note auto-triage adds: the failure mode, the key findings of the
 * diagnose steps, the proposed plan, and where to approve it (the Slack thread). Plain text:
 * PagerDuty shows notes verbatim.
 */
export function formatTriageNote(input: { report: TriageReport; view: RunView | null; events?: readonly AuditEvent[]; thread: ThreadRef | null }): string {
  const { report, view, thread } = input;
  const lines: string[] = [];
  lines.push(`belay triage: ${report.failureMode ? `failure mode ${report.failureMode}` : "no known failure mode recognised"}`);
  if (report.reasons.length > 0) lines.push(`Why: ${report.reasons.slice(0, 3).join("; ")}`);
  if (view) {
    const findings = view.steps.filter((s) => s.kind === "diagnose" && (s.status === "succeeded" || s.status === "failed"));
    if (findings.length > 0) {
      lines.push("", "Findings:");
      for (const s of findings.slice(0, 8)) {
        lines.push(s.status === "failed" ? `- ${s.name}: failed: ${clip(s.error ?? "", FINDING_CHARS)}` : `- ${s.name}: ${clip(summarise(s.output), FINDING_CHARS)}`);
      }
    }
    // What the run did to the system: a run that changed nothing is never reported as a fix.
    const outcome = runOutcome(view.run, view.steps, input.events ?? []);
    lines.push("", `Outcome: ${outcomeLine(outcome, 3)}`);
    lines.push("", `Proposed plan (${view.run.playbookId}, run ${view.run.id}, ${outcome.label}):`);
    for (const s of view.steps) lines.push(`${s.idx + 1}. ${s.name} [${s.kind}${s.risk ? `, ${s.risk} risk` : ""}] ${s.status}`);
  } else if (report.closest.length > 0) {
    lines.push("", "No playbook matches. Closest catalog entries:");
    for (const c of report.closest) lines.push(`- ${c.id}: ${c.symptom}`);
  } else {
    lines.push("", "No playbook matches and no catalog entry fits.");
  }
  lines.push("", thread ? `Approve or discuss in Slack: ${thread.permalink ?? `channel ${thread.channel}, thread ${thread.ts}`}` : "Slack is not configured: no thread was posted.");
  return lines.join("\n");
}

function summarise(output: unknown): string {
  if (output === null || output === undefined) return "(no output)";
  if (typeof output === "string") return output.replace(/\s+/g, " ");
  return outputText(output, { maxChars: FINDING_CHARS, maxItems: 5 }).replace(/\n\s*/g, "; ");
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
