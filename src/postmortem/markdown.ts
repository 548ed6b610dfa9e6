import type { PostmortemDraft } from "./draft.ts";

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const dur = (s: number | null) => (s === null ? "—" : s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

/** The review draft as Markdown: the chain's verdict first, then summary, impact, detection, timeline, mitigation, action items. */
export function postmortemMarkdown(d: PostmortemDraft): string {
  const i = d.incident;
  const lines = [
    `# Post-incident review (draft): ${i.drill ? "DRILL — " : ""}${i.title}`,
    "",
    d.chain.verified
      ? `> Audit chain verified before this draft was written: ${d.chain.events} events intact, head \`${d.chain.headHash.slice(0, 16)}\` (${d.chain.checkedAt}).`
      : `> **AUDIT CHAIN BROKEN** (checked ${d.chain.checkedAt}): ${d.chain.problem}. Do not trust this draft until the trail is explained.`,
    "",
    `Incident \`${i.id}\`${i.service ? ` · service ${i.service}` : ""} · ${i.status}${i.severity ? ` · ${i.severity}` : ""}${i.drill ? " · **DRILL**" : ""}`,
    "",
    "## Summary",
    "",
    d.summary,
    "",
    "## Impact",
    "",
    `- Window: ${d.impact.start ?? "?"} → ${d.impact.end ?? "ongoing"} (${dur(d.impact.durationS)}, first alert to resolution)`,
    "",
    "## Detection",
    "",
    `- First alert: ${d.detection.alert ?? "none recorded"} (${d.detection.source ?? "?"}) at ${d.detection.firstAlertAt ?? "?"}`,
    `- Incident opened: ${d.detection.openedAt ?? "?"}`,
    `- First human action: ${d.detection.acknowledgedAt ? `${d.detection.acknowledgedBy} at ${d.detection.acknowledgedAt} (${dur(d.detection.timeToAcknowledgeS)} after the first alert)` : "none recorded"}`,
    "",
    "## Timeline (UTC)",
    "",
    "| minute | time | who | event | step | detail |",
    "|---|---|---|---|---|---|",
    ...d.timeline.map((t) => `| ${t.minute} | ${t.at.slice(11, 23)} | ${cell(t.actor)} (${t.surface}) | ${t.kind} | ${cell(t.step ?? "")} | ${cell(t.summary)} |`),
    "",
    "## Mitigation",
    "",
    ...(d.mitigation.length ? d.mitigation.map((m) => `- ${m}`) : ["- no mutating step ran"]),
    "",
    "## Outcome",
    "",
    ...(d.outcomes.length
      ? d.outcomes.map((o) => `- run \`${o.runId}\` (${o.playbook}): ${o.fixed ? "**" : ""}${o.outcome}${o.fixed ? "**" : ""}${o.reasons.length ? ` — ${o.reasons.join("; ")}` : ""}`)
      : ["- no run for this incident"]),
    "",
    "## Suggested action items",
    "",
    ...(d.actionItems.length ? d.actionItems.map((a) => `- [ ] ${a.text} _(from ${a.evidence.map((e) => `#${e.seq} ${e.kind}`).join(", ")})_`) : ["- none derived from the trail; add what the team learned"]),
  ];
  return `${lines.join("\n")}\n`;
}
