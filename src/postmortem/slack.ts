import type { PostmortemDraft } from "./draft.ts";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** `/runbook postmortem INCIDENT`: the draft's head in Block Kit; the full draft is `belay postmortem INCIDENT`. */
export function postmortemReply(d: PostmortemDraft): { text: string; blocks: object[] } {
  const chain = d.chain.verified
    ? `:white_check_mark: Audit chain verified first: ${d.chain.events} events intact.`
    : `:rotating_light: *AUDIT CHAIN BROKEN*: ${esc(d.chain.problem ?? "")}. Do not trust this draft.`;
  const items = d.actionItems.slice(0, 8).map((a) => `• ${esc(a.text)}`).join("\n") || "• none derived from the trail";
  const blocks = [
    { type: "header", text: { type: "plain_text", text: `Review draft: ${d.incident.drill ? "DRILL — " : ""}${d.incident.title}`.slice(0, 150) } },
    { type: "context", elements: [{ type: "mrkdwn", text: chain }] },
    { type: "section", text: { type: "mrkdwn", text: `${esc(d.summary)}\n*Impact* ${d.impact.start ?? "?"} → ${d.impact.end ?? "ongoing"}\n*First human action* ${d.detection.acknowledgedBy ? `<@${d.detection.acknowledgedBy}> at ${d.detection.acknowledgedAt}` : "none"}` } },
    ...(d.outcomes.length
      ? [{ type: "section", text: { type: "mrkdwn", text: `*Outcome*\n${d.outcomes.slice(0, 5).map((o) => `• \`${o.runId}\` ${esc(o.playbook)}: ${o.fixed ? "*" : ""}${esc(o.outcome)}${o.fixed ? "*" : ""}`).join("\n")}` } }]
      : []),
    { type: "section", text: { type: "mrkdwn", text: `*Suggested action items*\n${items}` } },
    { type: "context", elements: [{ type: "mrkdwn", text: `${d.timeline.length} timeline events. Full draft: \`belay postmortem ${d.incident.id}\`` }] },
  ];
  return { text: `Review draft for ${d.incident.id}`, blocks };
}
