import type { AuditEvent } from "../audit/events.ts";
import type { RunView } from "../execute/engine.ts";
import { runOutcome } from "../execute/outcome.ts";
import { TERMINAL_RUN_STATUSES } from "../store/runs.ts";
import type { Plan } from "../plan/plan.ts";
import { diagnosticText } from "./diagnostic-text.ts";
import { paint } from "./tabulate.ts";

const RISK_BADGE = { low: "[low]", medium: "[MEDIUM]", high: "[HIGH]" } as const;

function indent(text: string, pad: string): string {
  return text
    .split("\n")
    .map((l) => pad + l)
    .join("\n");
}

export function renderPlan(plan: Plan): string {
  // Previews made later (from what diagnostics read) change the hash: the one approvals bind to is shown at the approval.
  const pending = plan.steps.some((s) => s.kind === "act" && !s.preview);
  const lines = [`Plan for ${plan.playbook} (${pending ? "plan hash fixed once every preview is made; shown at each approval" : `plan ${plan.hash.slice(0, 12)}`})`];
  for (const s of plan.steps) {
    const badge = s.risk ? ` ${RISK_BADGE[s.risk]}` : "";
    lines.push(`  ${s.idx + 1}. ${s.kind.padEnd(8)} ${s.name}${badge}${s.permissions.length ? `  needs ${s.permissions.join(", ")}` : ""}`);
    if (s.description) lines.push(`       ${s.description}`);
    if (s.kind === "act") {
      lines.push(s.preview ? indent(`preview: ${s.preview}`, "       ") : "       preview: shown once the diagnostics it reads have run");
      lines.push(s.rollback === "rollback" ? "       rollback: automatic if verify fails" : `       irreversible: ${(s.rollback as { irreversible: string }).irreversible}`);
    }
  }
  return lines.join("\n");
}

const STEP_MARK: Record<string, string> = {
  succeeded: "ok",
  skipped: "skipped",
  failed: "FAILED",
  rolled_back: "rolled back",
  uncertain: "UNCERTAIN",
  awaiting_approval: "awaiting approval",
  running: "running",
  verifying: "verifying",
  rolling_back: "rolling back",
  pending: "pending",
  previewed: "previewed (dry run)",
};

/** A run and its steps; a finished run leads with its outcome (what happened to the system), from `events`. */
export function renderRun(view: RunView, events: readonly AuditEvent[] = [], opts: { color?: boolean } = {}): string {
  const c = paint(opts.color ?? false);
  const markColour = (status: string, text: string) =>
    ["failed", "uncertain", "rolled_back"].includes(status) ? c.red(text) : status === "succeeded" ? c.green(text) : status.startsWith("awaiting") ? c.yellow(text) : text;
  const { run } = view;
  const lines = [
    `Run ${run.id}: ${run.playbookId}  status ${run.status}${run.statusReason ? ` (${run.statusReason})` : ""}`,
    `  requested by ${run.requestedBy} via ${run.surface} at ${run.createdAt.toISOString()}${run.incidentId ? `, incident ${run.incidentId}` : ""}`,
    `  plan ${run.planHash}`,
  ];
  const last = (kind: string, step: string) => [...events].reverse().find((e) => e.kind === kind && e.step === step);
  if (TERMINAL_RUN_STATUSES.includes(run.status)) {
    const o = runOutcome(run, view.steps, events);
    lines.push(`  outcome: ${o.label}`, ...o.reasons.map((r) => `    - ${r}`));
  }
  for (const s of view.steps) {
    const badge = s.risk ? ` ${RISK_BADGE[s.risk]}` : "";
    const approvers = view.approvals.filter((a) => a.stepIdx === s.idx && a.planHash === run.planHash).map((a) => a.actor);
    lines.push(`  ${s.idx + 1}. ${s.kind.padEnd(8)} ${s.name}${badge}: ${markColour(s.status, STEP_MARK[s.status] ?? s.status)}${approvers.length ? ` (approved by ${approvers.join(", ")})` : ""}`);
    if (s.error) lines.push(`       ${s.error}`);
    if (s.kind === "diagnose" && s.status === "succeeded" && s.output !== null) lines.push(indent(diagnosticText(s.output), "       "));
    if (s.status === "skipped") {
      const why = last("step.skipped", s.name)?.data.reason;
      if (typeof why === "string") lines.push(`       skipped: ${why}`);
    }
    // What the step was to do, and what its verify said, stay visible after it ran.
    if (s.kind === "act" && s.preview) lines.push(indent(`${["succeeded", "rolled_back", "failed"].includes(s.status) ? "change" : "preview"}: ${s.preview}`, "       "));
    const verified = last("step.verified", s.name)?.data;
    const verifyFailed = last("step.verify_failed", s.name)?.data;
    if (verified) lines.push(indent(`verify: ok${typeof verified.detail === "string" ? `, ${verified.detail}` : ""}`, "       "));
    else if (verifyFailed && !s.error?.includes("verify failed")) lines.push(indent(`verify: FAILED, ${String(verifyFailed.detail ?? verifyFailed.error ?? "")}`, "       "));
    const notified = last("notify.sent", s.name)?.data.message;
    if (typeof notified === "string") lines.push(indent(`sent: ${notified}`, "       "));
  }
  return lines.join("\n");
}
