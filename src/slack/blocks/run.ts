import { evaluateApprovals, type ApprovalPolicy } from "../../approve/policy.ts";
import type { People } from "../../identity/people.ts";
import type { AuditEvent } from "../../audit/events.ts";
import type { RunView } from "../../execute/engine.ts";
import { runOutcome, type OutcomeKind } from "../../execute/outcome.ts";
import { outputText } from "../../execute/output-text.ts";
import { TERMINAL_RUN_STATUSES, type StepRecord } from "../../store/runs.ts";
import type { TokenBinding } from "../tokens.ts";
import type { MessageBody } from "../publisher.ts";
import { clip, codeBlock, context, divider, esc, header, hhmm, RISK_BADGE, RUN_MARK, section, STEP_MARK, who } from "./text.ts";

/** Only a verified change is green: "nothing needed" is grey, never a fix. */
export const OUTCOME_MARK: Record<OutcomeKind, string> = {
  in_progress: ":hourglass_flowing_sand:",
  changed: ":white_check_mark:",
  nothing_needed: ":heavy_minus_sign:",
  diagnosed: ":mag:",
  skipped_by_person: ":fast_forward:",
  failed: ":x:",
  rolled_back: ":leftwards_arrow_with_hook:",
  aborted: ":no_entry:",
  previewed: ":eyes:",
};

/** What a run's message shows besides the run itself: where it came from. */
export interface RunContext {
  incident?: { id: string; title: string; service: string | null; drill: boolean } | null;
  alert?: { title: string; source: string } | null;
  failureMode?: string | null;
  reasons?: readonly string[];
}

export type StepButton = "approve" | "skip" | "retry";

/** The buttons a run's message needs now, as token bindings (the message carries only the tokens). */
export function buttonsFor(view: RunView): (TokenBinding & { action: StepButton | "abort" })[] {
  const { run, steps } = view;
  if (TERMINAL_RUN_STATUSES.includes(run.status)) return [];
  const out: (TokenBinding & { action: StepButton | "abort" })[] = [];
  for (const s of steps) {
    const bind = { runId: run.id, stepIdx: s.idx, planHash: run.planHash, extra: `attempt ${s.attempts}` };
    if (s.status === "awaiting_approval") out.push({ action: "approve", ...bind }, { action: "skip", ...bind });
    if (s.status === "uncertain") out.push({ action: "retry", ...bind }, { action: "skip", ...bind });
  }
  out.push({ action: "abort", runId: run.id });
  return out;
}

/** The key a rendered button is looked up by in the token map. */
export const buttonKey = (action: string, stepIdx: number | null | undefined) => `${action}:${stepIdx ?? "-"}`;

function button(text: string, actionId: string, value: string, style?: "primary" | "danger", confirm?: { title: string; text: string; confirm: string }) {
  return {
    type: "button",
    text: { type: "plain_text", text, emoji: true },
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
    ...(confirm
      ? {
          confirm: {
            title: { type: "plain_text", text: confirm.title },
            text: { type: "mrkdwn", text: confirm.text },
            confirm: { type: "plain_text", text: confirm.confirm },
            deny: { type: "plain_text", text: "Cancel" },
            ...(style === "danger" ? { style: "danger" } : {}),
          },
        }
      : {}),
  };
}

function json(value: unknown): string {
  try {
    return JSON.stringify(value, null, 1) ?? "null";
  } catch {
    return String(value);
  }
}

function lastData(events: readonly AuditEvent[], kind: string, step: string): Record<string, any> | null {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]!.kind === kind && events[i]!.step === step) return events[i]!.data as Record<string, any>;
  return null;
}

/** How a person is shown: a mention when `people:` knows their Slack id. */
type NameOf = (person: string) => string;

function approvalsLine(view: RunView, s: StepRecord, policy: ApprovalPolicy, now: Date, name: NameOf): string | null {
  const mine = view.approvals.filter((a) => a.stepIdx === s.idx);
  if (!s.risk || (mine.length === 0 && s.status !== "awaiting_approval")) return null;
  const verdict = evaluateApprovals({ policy, risk: s.risk, requester: view.run.requestedBy, planHash: view.run.planHash, approvals: mine, now });
  const parts: string[] = [];
  for (const a of mine) {
    const ignored = verdict.ignored.find((x) => x.actor === a.actor);
    if (a.planHash !== view.run.planHash) continue;
    const by = a.breakGlass ? `${name(a.actor)} (break-glass by ${name(a.authenticatedAs)})` : name(a.actor);
    parts.push(ignored ? `~${by} ${hhmm(a.createdAt)}~ (${esc(ignored.reason)})` : `${by} at ${hhmm(a.createdAt)}`);
  }
  const tally = `${verdict.counted.length} of ${verdict.required} approval${verdict.required === 1 ? "" : "s"}`;
  return parts.length > 0 ? `Approved by ${parts.join(", ")} · ${tally}` : `Needs ${tally}`;
}

function stepBlock(view: RunView, s: StepRecord, events: readonly AuditEvent[], policy: ApprovalPolicy, now: Date, name: NameOf): string {
  const lines = [`${STEP_MARK[s.status] ?? ""} *${s.idx + 1}. ${esc(s.name)}* · ${s.kind}${s.risk ? ` · ${RISK_BADGE[s.risk]}` : ""} · _${s.status.replace(/_/g, " ")}_`];
  const def = view.playbook?.steps[s.idx];
  if (def?.description) lines.push(esc(def.description));
  if (s.kind === "act") {
    if (s.preview) lines.push(codeBlock(s.preview, 900));
    else if (s.status === "pending" || s.status === "awaiting_approval") lines.push("_preview shown once the diagnostics it reads have run_");
    const line = approvalsLine(view, s, policy, now, name);
    if (line) lines.push(line);
    const verified = lastData(events, "step.verified", s.name);
    const failedVerify = lastData(events, "step.verify_failed", s.name);
    if (verified) lines.push(`:mag: verify ok${verified.detail ? `: ${esc(String(verified.detail))}` : ""}`);
    if (failedVerify) lines.push(`:mag: verify failed: ${esc(String(failedVerify.detail))}`);
    if (s.status === "rolled_back") lines.push(":leftwards_arrow_with_hook: rolled back");
    const rbFailed = lastData(events, "step.rollback_failed", s.name);
    if (rbFailed) lines.push(`:rotating_light: rollback failed: ${esc(String(rbFailed.error))}; check the target by hand`);
    if (def) lines.push(def.rollback ? "_rollback: automatic if verify fails_" : `_irreversible: ${esc(def.irreversible ?? "")}_`);
  }
  if (s.status === "skipped") {
    const d = lastData(events, "step.skipped", s.name);
    if (d?.reason) lines.push(`_skipped: ${esc(String(d.reason))}_`);
  }
  if (s.error && s.status !== "skipped") lines.push(`:x: ${esc(s.error)}`);
  return lines.join("\n");
}

/**
 * The proposal message: where the run came from, what the diagnostics found, the whole
 * plan with each step's kind, risk and preview, who approved what, and the buttons for
 * the step waiting on humans. Pure: tokens are issued before and passed in.
 */
export function renderRunMessage(input: {
  view: RunView;
  events: readonly AuditEvent[];
  context: RunContext;
  policy: ApprovalPolicy;
  now: Date;
  tokens: ReadonlyMap<string, string>;
  /** The identity map, for mentions of mapped people (unmapped Slack ids are mentioned anyway). */
  people?: People;
}): MessageBody {
  const { view, events, policy, now, tokens } = input;
  const name: NameOf = (person) => who(input.people?.slackIdOf(person) ?? person);
  const { run } = view;
  const ctx = input.context;
  const title = view.playbook?.title ?? run.playbookId;
  const blocks: unknown[] = [header(`${run.dryRun ? "Dry run: " : ""}${title}`)];
  const terminal = TERMINAL_RUN_STATUSES.includes(run.status);
  // A finished run says what happened to the system (its outcome), not how the engine ended it.
  const outcome = terminal ? runOutcome(run, view.steps, events) : null;
  const statusLine = outcome
    ? `${OUTCOME_MARK[outcome.kind]} *${esc(outcome.label)}*${outcome.reasons.slice(0, 4).map((r) => `\n• ${esc(r)}`).join("")}`
    : `${RUN_MARK[run.status] ?? ""} *${run.status.replace(/_/g, " ")}*${run.statusReason ? ` — ${esc(run.statusReason)}` : ""}`;
  blocks.push(
    section(
      `${statusLine}\n` +
        `Run \`${run.id}\` of \`${esc(run.playbookId)}\` · requested by ${name(run.requestedBy)} via ${esc(run.surface)} · plan \`${run.planHash.slice(0, 12)}\``,
    ),
  );
  if (ctx.incident || ctx.alert) {
    const parts: string[] = [];
    if (ctx.incident) parts.push(`:rotating_light: *Incident* ${esc(ctx.incident.title)} (\`${ctx.incident.id}\`${ctx.incident.service ? `, service ${esc(ctx.incident.service)}` : ""}${ctx.incident.drill ? ", *drill*" : ""})`);
    if (ctx.alert) parts.push(`*Alert* ${esc(ctx.alert.title)} (${esc(ctx.alert.source)})`);
    blocks.push(section(parts.join("\n")));
  }
  if (ctx.failureMode || (ctx.reasons && ctx.reasons.length > 0)) {
    blocks.push(section(`*Failure mode* ${ctx.failureMode ? `\`${esc(ctx.failureMode)}\`` : "_not recognised_"}${(ctx.reasons ?? []).slice(0, 6).map((r) => `\n• ${esc(r)}`).join("")}`));
  }
  const params = Object.entries(run.params);
  if (params.length > 0) blocks.push(context(`Params: ${params.map(([k, v]) => `\`${esc(k)}=${esc(typeof v === "string" ? v : json(v))}\``).join(" ")}`));

  const diagnostics = view.steps.filter((s) => s.kind === "diagnose" && (s.status === "succeeded" || s.status === "failed"));
  if (diagnostics.length > 0) {
    blocks.push(divider(), section("*Diagnostics*"));
    for (const s of diagnostics.slice(0, 8)) {
      // Readable lines, cut only between whole lines (raw JSON cut at a limit breaks mid-string).
      blocks.push(section(s.status === "succeeded" ? `*${esc(s.name)}*\n${codeBlock(outputText(s.output, { maxChars: 1100 }), 1200)}` : `*${esc(s.name)}* :x: ${esc(s.error ?? "failed")}`));
    }
  }

  blocks.push(divider(), section(`*Plan* (${view.steps.length} step${view.steps.length === 1 ? "" : "s"})`));
  for (const s of view.steps) {
    blocks.push(section(stepBlock(view, s, events, policy, now, name)));
    if (terminal) continue;
    const elements: unknown[] = [];
    const approve = tokens.get(buttonKey("approve", s.idx));
    const retry = tokens.get(buttonKey("retry", s.idx));
    const skip = tokens.get(buttonKey("skip", s.idx));
    if (approve) elements.push(button("Approve", `belay.approve.${s.idx}`, approve, "primary"));
    if (retry) elements.push(button("Retry", `belay.retry.${s.idx}`, retry, "primary", { title: "Retry this step?", text: `Check that *${esc(s.name)}* did not take effect before retrying it.`, confirm: "Retry" }));
    if (skip) elements.push(button("Skip", `belay.skip.${s.idx}`, skip));
    const abort = tokens.get(buttonKey("abort", null));
    if (elements.length > 0 && abort) {
      elements.push(button("Abort run", `belay.abort.${s.idx}`, abort, "danger", { title: "Abort this run?", text: `Run \`${run.id}\` stops; steps already done stay done.`, confirm: "Abort" }));
    }
    if (elements.length > 0) blocks.push({ type: "actions", block_id: `run:${s.idx}`, elements });
  }
  if (!terminal && !view.steps.some((s) => s.status === "awaiting_approval" || s.status === "uncertain")) {
    const abort = tokens.get(buttonKey("abort", null));
    if (abort) blocks.push({ type: "actions", block_id: "run:abort", elements: [button("Abort run", "belay.abort.run", abort, "danger", { title: "Abort this run?", text: `Run \`${run.id}\` stops after the step in progress.`, confirm: "Abort" })] });
  }
  blocks.push(context(`Slack down? \`belay approve ${run.id} STEP --plan ${run.planHash.slice(0, 12)}\` · \`belay abort ${run.id}\` (as your own login) · updated ${hhmm(now)}`));
  const bounded = blocks.length > 50 ? [...blocks.slice(0, 48), section("_…more steps than one Slack message holds; see_ `/runbook status " + run.id + "`"), blocks[blocks.length - 1]] : blocks;
  const said = outcome ? `${outcome.label}${outcome.reasons[0] ? ` (${outcome.reasons[0]})` : ""}` : `${run.status.replace(/_/g, " ")}${run.statusReason ? ` (${run.statusReason})` : ""}`;
  return { text: clip(`${title}: run ${run.id} ${said}`, 3000), blocks: bounded };
}
