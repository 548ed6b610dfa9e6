import type { AuditEvent } from "../../audit/events.ts";
import { runOutcome, type RunOutcome } from "../../execute/outcome.ts";
import type { TimelineEntry } from "../../audit/timeline.ts";
import type { RunView } from "../../execute/engine.ts";
import type { MatchResult } from "../../match/types.ts";
import { describeParams } from "../../plan/bind.ts";
import type { AnyPlaybook } from "../../sdk/playbook.ts";
import type { RunRecord } from "../../store/runs.ts";
import { isIntegerParam } from "./modal.ts";
import { clip, codeBlock, context, esc, hhmm, RISK_BADGE, RUN_MARK, section, STEP_MARK, who } from "./text.ts";
import { OUTCOME_MARK } from "./run.ts";
import { SUBCOMMANDS } from "../command.ts";

/** An ephemeral reply to a slash command (only the person who typed it sees it). */
export interface Reply {
  response_type: "ephemeral";
  text: string;
  blocks?: unknown[];
}

export const reply = (text: string, blocks?: unknown[]): Reply => ({ response_type: "ephemeral", text: clip(text, 3000), ...(blocks ? { blocks } : {}) });

export function helpReply(command: string, lead?: string): Reply {
  const lines = SUBCOMMANDS.filter((c) => c.name !== "help").map((c) => `\`${command} ${c.usage}\` ${c.summary}`);
  lines.push(`\`${command} <alert text>\` anything else is matched like \`match <text>\``);
  return reply(`${lead ? `${lead}\n` : ""}${lines.join("\n")}`, [...(lead ? [section(lead)] : []), section(lines.map((l) => `• ${l}`).join("\n"))]);
}

export function listReply(playbooks: readonly AnyPlaybook[], query: string | null): Reply {
  const q = query?.toLowerCase() ?? null;
  const hits = playbooks
    .filter((p) => !q || [p.id, p.title, p.summary, ...p.failureModes].some((s) => s.toLowerCase().includes(q)))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  if (hits.length === 0) return reply(q ? `No playbook matches "${query}". Try \`list\` without a query.` : "No playbooks are loaded.");
  const lines = hits.slice(0, 40).map((p) => {
    const risk = p.steps.reduce<string | null>((top, s) => (s.risk === "high" || (s.risk === "medium" && top !== "high") || (s.risk === "low" && !top) ? s.risk : top), null);
    return `• \`${esc(p.id)}\` ${esc(p.title)}${risk ? ` · up to ${RISK_BADGE[risk as keyof typeof RISK_BADGE]}` : " · read-only"}`;
  });
  const more = hits.length > 40 ? `\n…and ${hits.length - 40} more; narrow it with a query` : "";
  return reply(`${hits.length} playbook(s)`, [section(`*${hits.length} playbook${hits.length === 1 ? "" : "s"}*${q ? ` matching "${esc(query!)}"` : ""}`), section(lines.join("\n") + more)]);
}

export function showReply(pb: AnyPlaybook, command: string): Reply {
  const steps = pb.steps.map((s, i) => `${i + 1}. *${esc(s.name)}* · ${s.kind}${s.risk ? ` · ${RISK_BADGE[s.risk]}` : ""}${s.description ? ` — ${esc(s.description)}` : ""}${s.kind === "act" ? (s.rollback ? " _(rollback)_" : ` _(irreversible: ${esc(s.irreversible ?? "")})_`) : ""}`);
  const params = describeParams(pb.params).map(
    (p) => `\`${p.name}\` ${p.type === "number" && isIntegerParam(pb.params, p.name) ? "integer" : p.type}${p.options ? ` (${p.options.join(" | ")})` : ""}${p.required ? " *required*" : ""}${p.default !== undefined ? ` default \`${esc(JSON.stringify(p.default))}\`` : ""}${p.secret ? " _secret_" : ""}${p.description ? ` — ${esc(p.description)}` : ""}`,
  );
  return reply(`${pb.id}: ${pb.title}`, [
    section(`*${esc(pb.title)}* (\`${esc(pb.id)}\`)\n${esc(pb.summary)}`),
    ...(pb.failureModes.length ? [context(`Answers: ${pb.failureModes.map((f) => `\`${esc(f)}\``).join(", ")}`)] : []),
    section(`*Steps*\n${steps.join("\n")}`),
    section(`*Params*\n${params.length ? params.join("\n") : "_none_"}`),
    context(`Run it: \`${command} run ${pb.id}${describeParams(pb.params).filter((p) => p.required).map((p) => ` ${p.name}=…`).join("")}\``),
  ]);
}

/** `near`: the text was one word close to this subcommand, so the reply asks whether it was meant. */
export function matchReply(result: MatchResult, text: string, command: string, near?: string): Reply {
  const hint = near ? `\`${esc(clip(text, 40))}\` is not a subcommand (did you mean \`${command} ${near}\`?), so it was matched as alert text:` : null;
  if (hint) {
    const r = matchReply(result, text, command);
    return reply(`${hint}\n${r.text}`, [section(hint), ...(r.blocks ?? [])]);
  }
  const head = `*Failure mode* ${result.failureMode ? `\`${esc(result.failureMode)}\`` : "_none recognised_"} for "${esc(clip(text, 200))}"`;
  if (result.candidates.length === 0) {
    return reply(`No playbook fits "${text}".`, [section(head), section(`No playbook fits. \`${command} list\` shows them all.`)]);
  }
  const lines = result.candidates.slice(0, 5).map((c, i) => `${i + 1}. \`${esc(c.playbook)}\` score ${c.score.toFixed(2)}${c.missing?.length ? ` _(needs ${esc(c.missing.join(", "))}: not from the alert)_` : ""}\n${c.reasons.slice(0, 4).map((r) => `    • ${esc(r)}`).join("\n")}`);
  return reply(`${result.candidates.length} playbook(s) fit; best ${result.candidates[0]!.playbook}`, [
    section(head),
    section(lines.join("\n")),
    context(`Propose the best: \`${command} run ${result.candidates[0]!.playbook}\``),
  ]);
}

/** One run on a line; a finished run with its outcome (only a verified change is green). */
export function runLine(r: RunRecord, outcome?: RunOutcome): string {
  const said = outcome && outcome.kind !== "in_progress" ? `${OUTCOME_MARK[outcome.kind]} \`${r.id}\` ${esc(r.playbookId)} · ${esc(outcome.label)}` : `${RUN_MARK[r.status] ?? ""} \`${r.id}\` ${esc(r.playbookId)} · ${r.status.replace(/_/g, " ")}`;
  return `${said} · ${who(r.requestedBy)} · ${r.createdAt.toISOString().slice(0, 16).replace("T", " ")} UTC${r.incidentId ? ` · incident \`${r.incidentId}\`` : ""}`;
}

export function historyReply(runs: readonly RunRecord[], heading: string, outcomes: ReadonlyMap<string, RunOutcome> = new Map()): Reply {
  if (runs.length === 0) return reply(`${heading}: none`);
  return reply(`${heading}: ${runs.length}`, [section(`*${esc(heading)}*`), section(runs.map((r) => runLine(r, outcomes.get(r.id))).join("\n"))]);
}

export function statusReply(view: RunView, events: readonly AuditEvent[] = []): Reply {
  const { run } = view;
  const steps = view.steps.map((s) => {
    const approvers = view.approvals.filter((a) => a.stepIdx === s.idx && a.planHash === run.planHash).map((a) => who(a.actor));
    return `${STEP_MARK[s.status] ?? ""} ${s.idx + 1}. ${esc(s.name)} · ${s.kind}${s.risk ? ` · ${s.risk}` : ""} · ${s.status.replace(/_/g, " ")}${approvers.length ? ` · approved by ${approvers.join(", ")}` : ""}${s.error ? `\n      ${esc(s.error)}` : ""}`;
  });
  const outcome = runOutcome(run, view.steps, events);
  const why = outcome.kind === "in_progress" ? (run.statusReason ? [run.statusReason] : []) : outcome.reasons;
  return reply(`Run ${run.id}: ${outcome.kind === "in_progress" ? run.status : outcome.label}`, [
    section(`${runLine(run, outcome)}${why.map((r) => `\n${esc(r)}`).join("")}`),
    section(steps.join("\n")),
  ]);
}

export function auditReply(subject: string, entries: readonly TimelineEntry[]): Reply {
  if (entries.length === 0) return reply(`No audit events for ${subject}. Run and incident ids look like \`run_…\` and \`inc_…\`.`);
  const shown = entries.slice(-40);
  const lines = shown.map((e) => `${e.at.slice(11, 19)} ${e.actor} (${e.surface}) ${e.kind}${e.step ? ` [${e.step}]` : ""}${e.summary ? ` ${e.summary}` : ""}`);
  return reply(`Timeline of ${subject}: ${entries.length} events`, [
    section(`*Timeline of \`${esc(subject)}\`* (${entries.length} event${entries.length === 1 ? "" : "s"}${entries.length > shown.length ? `, last ${shown.length} shown` : ""}; times UTC, from ${hhmm(entries[0]!.at)})`),
    section(codeBlock(lines.join("\n"), 2800)),
    context(`The full record: \`belay audit export --incident ID\`; \`belay audit verify\` proves the chain.`),
  ]);
}
