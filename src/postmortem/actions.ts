import type { AuditEvent } from "../audit/events.ts";
import type { IncidentRecord } from "../incidents/queries.ts";

export interface ActionItem {
  kind: "verify_failed" | "slow_approval" | "no_playbook" | "rollback" | "step_failed" | "uncertain_step" | "slow_acknowledge" | "approval_refused";
  text: string;
  /** The audit event(s) it comes from. */
  evidence: { seq: number; kind: string; at: string }[];
}

/** An approval that waited longer than this suggests the approvers or their paging need work. */
export const SLOW_APPROVAL_S = 10 * 60;
export const SLOW_ACK_S = 15 * 60;

const ev = (e: AuditEvent) => ({ seq: e.seq, kind: e.kind, at: e.at });
const mins = (s: number) => `${Math.round(s / 60)} minute${Math.round(s / 60) === 1 ? "" : "s"}`;

/** Suggested action items from what happened: each names the event it comes from. Pure. */
export function deriveActionItems(incident: Pick<IncidentRecord, "failureMode" | "drill">, events: readonly AuditEvent[]): ActionItem[] {
  const items: ActionItem[] = [];
  const playbookOf = new Map<string, string>();
  const askedAt = new Map<string, AuditEvent>(); // run/step -> when approval was first needed
  for (const e of events) {
    const pb = e.runId ? (playbookOf.get(e.runId) ?? "?") : "?";
    switch (e.kind) {
      case "run.proposed":
        if (e.runId) playbookOf.set(e.runId, String(e.data.playbook));
        break;
      case "step.previewed":
        if (e.runId && e.step && !askedAt.has(`${e.runId}/${e.step}`)) askedAt.set(`${e.runId}/${e.step}`, e);
        break;
      case "step.approved": {
        const asked = e.runId && e.step ? askedAt.get(`${e.runId}/${e.step}`) : undefined;
        if (asked && e.data.satisfied === true) {
          const waited = (Date.parse(e.at) - Date.parse(asked.at)) / 1000;
          if (waited > SLOW_APPROVAL_S) {
            items.push({ kind: "slow_approval", text: `Approval of ${pb}/${e.step} waited ${mins(waited)}: check who was paged to approve ${String(e.data.risk)}-risk steps, and whether the approver group is reachable at night.`, evidence: [ev(asked), ev(e)] });
          }
        }
        break;
      }
      case "step.verify_failed":
        items.push({ kind: "verify_failed", text: `Verify failed for ${pb}/${e.step} (${String(e.data.detail ?? "no detail")}): find why the change did not take, and fix the playbook or the target before relying on it again.`, evidence: [ev(e)] });
        break;
      case "step.rolled_back":
        items.push({ kind: "rollback", text: `The rollback of ${pb}/${e.step} ran: the mitigation was undone. Decide what should have been done instead and add it to the playbook.`, evidence: [ev(e)] });
        break;
      case "step.failed":
        items.push({ kind: "step_failed", text: `${pb}/${e.step} failed (${String(e.data.error ?? "no error recorded")}): make the step robust to this, or document the manual fallback.`, evidence: [ev(e)] });
        break;
      case "step.uncertain":
        items.push({ kind: "uncertain_step", text: `${pb}/${e.step} was interrupted mid-change: check belay's hosting (a crash or redeploy during an incident) and the step's idempotence.`, evidence: [ev(e)] });
        break;
      case "approval.refused":
        items.push({ kind: "approval_refused", text: `${e.actor} was refused (${String(e.data.reason ?? e.data.code)}): check the approval policy matches who is on call.`, evidence: [ev(e)] });
        break;
      case "incident.triaged":
        if (!e.data.playbook) {
          const closest = (e.data.closest as string[] | undefined) ?? [];
          items.push({ kind: "no_playbook", text: `No playbook matched (failure mode ${String(e.data.failureMode ?? incident.failureMode ?? "not recognised")}${closest.length ? `; closest known modes ${closest.join(", ")}` : ""}): write a playbook for it, or a match rule for an existing one.`, evidence: [ev(e)] });
        }
        break;
    }
  }
  const opened = events.find((e) => e.kind === "incident.opened");
  const ack = events.find((e) => e.actor !== "belay" && ["step.approved", "step.denied", "pagerduty.acknowledged", "run.aborted", "step.skipped"].includes(e.kind));
  if (opened && ack) {
    const waited = (Date.parse(ack.at) - Date.parse(opened.at)) / 1000;
    if (waited > SLOW_ACK_S) items.push({ kind: "slow_acknowledge", text: `The first human action came ${mins(waited)} after the incident opened: review paging and escalation for this alert.`, evidence: [ev(opened), ev(ack)] });
  }
  return items;
}
