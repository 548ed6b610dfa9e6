import { evaluateApprovals, type ApprovalPolicy } from "../../approve/policy.ts";
import type { AuditEvent } from "../../audit/events.ts";
import { outputText } from "../../execute/output-text.ts";
import { TERMINAL_RUN_STATUSES, type StepRecord } from "../../store/runs.ts";
import type { RunData } from "../read.ts";
import { h, type Html } from "./html.ts";
import { badge, diffBlock, incidentHref, runHref, time } from "./parts.ts";

/** What the page lets this viewer do: the CSRF token of a signed-in session, or nothing (read-only). */
export interface Decider {
  csrf: string;
}

export interface RunRenderOptions {
  policy: ApprovalPolicy;
  /** The database's time the view was read at (approval expiry is judged by it). */
  now: Date;
  decider: Decider | null;
  /** Why there are no buttons, when `decider` is null. */
  readOnlyReason: string;
  /** Heading level of the run's title (2 inside an incident, 1 on its own page). */
  level?: 1 | 2;
  /** The page the forms are on, so the answer shows that page again (an incident's, or the run's own). */
  back?: string;
}

const lastData = (events: readonly AuditEvent[], kind: string, step: string): Record<string, unknown> | null => {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]!.kind === kind && events[i]!.step === step) return events[i]!.data;
  return null;
};

function approvalsOf(d: RunData, s: StepRecord, o: RunRenderOptions): Html | null {
  const { run, approvals } = d.view;
  const mine = approvals.filter((a) => a.stepIdx === s.idx);
  if (!s.risk || (mine.length === 0 && s.status !== "awaiting_approval")) return null;
  // A step that has started was let through by the approvals the engine named then; judging
  // them again against today's plan hash or clock would call a settled approval void.
  const started = lastData(d.events, "step.started", s.name);
  const deciding = s.status === "awaiting_approval" || s.status === "pending" || !started;
  if (!deciding) {
    const by = new Set(Array.isArray(started!.approvedBy) ? (started!.approvedBy as unknown[]).map(String) : []);
    const items = mine.map((a) => h`<li>${by.has(a.actor) ? h`<strong>${a.actor}</strong>` : a.actor} approved via ${a.surface} (${typeof a.auth.method === "string" ? a.auth.method : a.surface}) at ${time(a.createdAt)}${a.breakGlass ? h` <span class="badge b-failed">break-glass by ${a.authenticatedAs}</span>` : null}</li>`);
    return h`<div class="approvals"><p>Started${by.size ? h`, approved by <strong>${[...by].join(", ")}</strong>` : null}.</p>${items.length ? h`<ul>${items}</ul>` : null}</div>`;
  }
  const verdict = evaluateApprovals({ policy: o.policy, risk: s.risk, requester: run.requestedBy, planHash: run.planHash, approvals: mine, now: o.now });
  const items = mine.map((a) => {
    const ignored = verdict.ignored.find((x) => x.actor === a.actor);
    const how = typeof a.auth.method === "string" ? a.auth.method : a.surface;
    return h`<li>${ignored ? h`<s>${a.actor}</s>` : h`<strong>${a.actor}</strong>`} approved via ${a.surface} (${how}) at ${time(a.createdAt)}${a.breakGlass ? h` <span class="badge b-failed">break-glass by ${a.authenticatedAs}</span>` : null}${ignored ? h` <span class="muted">does not count: ${ignored.reason}</span>` : null}</li>`;
  });
  return h`<div class="approvals"><p><strong>${verdict.counted.length} of ${verdict.required}</strong> approval${verdict.required === 1 ? "" : "s"} counted${verdict.satisfied ? " — enough" : ""}.</p>${items.length ? h`<ul>${items}</ul>` : null}</div>`;
}

function refusalsOf(events: readonly AuditEvent[], step: string | null): Html | null {
  const refused = events.filter((e) => e.kind === "approval.refused" && e.step === step);
  if (refused.length === 0) return null;
  return h`<ul class="refusals">${refused.map((e) => h`<li><strong>${e.actor}</strong> (${e.surface}) at ${time(e.at)}: ${String(e.data.decision ?? "decision")} refused — ${String(e.data.reason ?? e.data.code ?? "")}</li>`)}</ul>`;
}

const backField = (back: string | undefined) => (back ? h`<input type="hidden" name="back" value="${back}">` : null);

function stepForms(d: RunData, s: StepRecord, dec: Decider, back: string | undefined): Html | null {
  const { run } = d.view;
  const action = `${runHref(run.id)}/decide`;
  const hidden = h`<input type="hidden" name="_csrf" value="${dec.csrf}"><input type="hidden" name="step" value="${String(s.idx)}"><input type="hidden" name="planHash" value="${run.planHash}">${backField(back)}`;
  if (s.status === "awaiting_approval") {
    return h`<form method="post" action="${action}" class="decide">${hidden}
<p class="muted">Approving binds to plan <code>${run.planHash.slice(0, 12)}</code>.</p>
<label for="reason-${run.id}-${String(s.idx)}">Reason (for deny or skip, optional)</label>
<input id="reason-${run.id}-${String(s.idx)}" name="reason" maxlength="500" autocomplete="off">
<div class="buttons"><button type="submit" name="action" value="approve" class="primary">Approve ${s.name}</button> <button type="submit" name="action" value="deny" class="danger">Deny</button> <button type="submit" name="action" value="skip">Skip</button></div></form>`;
  }
  if (s.status === "uncertain") {
    return h`<form method="post" action="${action}" class="decide">${hidden}
<p>This step was interrupted and may or may not have taken effect: check the target, then retry or skip it.</p>
<div class="buttons"><button type="submit" name="action" value="retry">Retry ${s.name}</button> <button type="submit" name="action" value="skip">Skip</button></div></form>`;
  }
  return null;
}

function stepItem(d: RunData, s: StepRecord, o: RunRenderOptions): Html {
  const def = d.view.playbook?.steps[s.idx];
  const events = d.events;
  const verified = lastData(events, "step.verified", s.name);
  const verifyFailed = lastData(events, "step.verify_failed", s.name);
  const rbFailed = lastData(events, "step.rollback_failed", s.name);
  const skipped = s.status === "skipped" ? lastData(events, "step.skipped", s.name) : null;
  const open = !TERMINAL_RUN_STATUSES.includes(d.view.run.status);
  return h`<li class="step s-${s.status}" id="step-${d.view.run.id}-${String(s.idx)}">
<div class="step-head"><span class="step-name">${String(s.idx + 1)}. ${s.name}</span> <span class="kind">${s.kind}</span> ${s.risk ? badge(`${s.risk} risk`, `risk-${s.risk}`) : null} ${badge(s.status)}</div>
${def?.description ? h`<p>${def.description}</p>` : null}
${s.preview ? h`<div class="field"><span class="label">Preview</span>${diffBlock(s.preview)}</div>` : s.kind === "act" && (s.status === "pending" || s.status === "awaiting_approval") ? h`<p class="muted">The preview is shown once the diagnostics it reads have run.</p>` : null}
${s.kind === "diagnose" && s.output !== null && s.output !== undefined ? h`<div class="field"><span class="label">Output</span><pre>${outputText(s.output, { maxChars: 4000 })}</pre></div>` : null}
${s.kind === "act" ? h`<p class="field"><span class="label">Verify</span> ${verified ? h`${badge("ok", "succeeded")} ${String(verified.detail ?? "")}` : verifyFailed ? h`${badge("failed")} ${String(verifyFailed.detail ?? "")}` : h`<span class="muted">not run yet</span>`}</p>
<p class="field"><span class="label">Rollback</span> ${def ? (def.rollback ? "automatic if verify fails" : h`irreversible: ${def.irreversible ?? ""}`) : h`<span class="muted">unknown (the playbook is not loaded)</span>`}${s.status === "rolled_back" ? h` — ${badge("rolled back", "rolled_back")}` : null}${rbFailed ? h` — ${badge("rollback failed", "failed")} ${String(rbFailed.error ?? "")}; check the target by hand` : null}</p>` : null}
${s.permissions.length ? h`<p class="field"><span class="label">Needs</span> ${s.permissions.map((p, i) => h`${i ? ", " : ""}<code>${p}</code>`)}</p>` : null}
${skipped?.reason ? h`<p class="muted">Skipped: ${String(skipped.reason)}</p>` : null}
${s.error && s.status !== "skipped" ? h`<p class="notice error">${s.error}</p>` : null}
${approvalsOf(d, s, o)}
${refusalsOf(events, s.name)}
${open && o.decider ? stepForms(d, s, o.decider, o.back) : null}
</li>`;
}

/** One run with its whole plan: each step's kind, risk, preview (diffs as diffs), verify, rollback, approvals, refusals, and the decisions open now. */
export function runSection(d: RunData, o: RunRenderOptions): Html {
  const { run, playbook, steps } = d.view;
  const open = !TERMINAL_RUN_STATUSES.includes(run.status);
  const title = playbook?.title ?? run.playbookId;
  const heading = o.level === 1 ? h`<h1>${run.dryRun ? "Dry run: " : ""}${title}</h1>` : h`<h2><a href="${runHref(run.id)}">${run.dryRun ? "Dry run: " : ""}${title}</a></h2>`;
  const waitsOnPeople = steps.some((s) => s.status === "awaiting_approval" || s.status === "uncertain");
  return h`<section class="run" aria-label="Run ${run.id}" data-run-id="${run.id}" data-plan-hash="${run.planHash}">
${heading}
<dl class="facts">
<div><dt>Run</dt><dd><code>${run.id}</code></dd></div>
<div><dt>State</dt><dd>${badge(run.status)} ${d.outcome.label}</dd></div>
<div><dt>Requested by</dt><dd>${run.requestedBy} (${run.surface}) at ${time(run.createdAt)}</dd></div>
<div><dt>Plan</dt><dd><code title="${run.planHash}">${run.planHash.slice(0, 12)}</code></dd></div>
${run.incidentId ? h`<div><dt>Incident</dt><dd><a href="${incidentHref(run.incidentId)}">${run.incidentId}</a></dd></div>` : null}
<div><dt>Params</dt><dd><code>${JSON.stringify(run.params)}</code></dd></div>
</dl>
${run.statusReason ? h`<p class="notice">${run.statusReason}</p>` : null}
${d.outcome.reasons.length ? h`<ul class="reasons">${d.outcome.reasons.map((r) => h`<li>${r}</li>`)}</ul>` : null}
${open && waitsOnPeople && !o.decider ? h`<p class="notice">${o.readOnlyReason}</p>` : null}
<ol class="plan">${steps.map((s) => stepItem(d, s, o))}</ol>
${refusalsOf(d.events, null)}
${open && o.decider ? h`<form method="post" action="${runHref(run.id)}/decide" class="decide abort"><input type="hidden" name="_csrf" value="${o.decider.csrf}"><input type="hidden" name="planHash" value="${run.planHash}">${backField(o.back)}
<label for="abort-${run.id}">Reason for aborting (optional)</label> <input id="abort-${run.id}" name="reason" maxlength="500" autocomplete="off">
<button type="submit" name="action" value="abort" class="danger">Abort run</button></form>` : null}
</section>`;
}
