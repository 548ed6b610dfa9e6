import type { PostmortemDraft } from "../../postmortem/draft.ts";
import { h, type Html } from "./html.ts";
import { incidentHref, runHref, table, time } from "./parts.ts";

const dur = (s: number | null) => (s === null ? "—" : s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

/** The draft review, as the Markdown export has it: chain verdict, summary, impact, detection, timeline, mitigation, outcome, action items. */
export function postmortemBody(d: PostmortemDraft): Html {
  const i = d.incident;
  const md = `/console/postmortems/${encodeURIComponent(i.id)}.md`;
  return h`<h1>Post-incident review (draft): ${i.drill ? "DRILL — " : ""}${i.title}</h1>
<p><a class="button" href="${md}" download>Download as Markdown</a> <a href="${incidentHref(i.id)}">Back to the incident</a></p>
${d.chain.verified
  ? h`<p class="notice ok">Audit chain verified before this draft was written: ${String(d.chain.events)} events intact, head <code>${d.chain.headHash.slice(0, 16)}</code> (${time(d.chain.checkedAt)}).</p>`
  : h`<p class="notice error"><strong>Audit chain broken</strong> (checked ${time(d.chain.checkedAt)}): ${d.chain.problem ?? ""}. Do not trust this draft until the trail is explained.</p>`}
<h2>Summary</h2><p>${d.summary}</p>
<h2>Impact</h2><p>Window: ${d.impact.start ?? "?"} → ${d.impact.end ?? "ongoing"} (${dur(d.impact.durationS)}, first alert to resolution)</p>
<h2>Detection</h2>
<ul><li>First alert: ${d.detection.alert ?? "none recorded"} (${d.detection.source ?? "?"}) at ${d.detection.firstAlertAt ?? "?"}</li>
<li>Incident opened: ${d.detection.openedAt ?? "?"}</li>
<li>First human action: ${d.detection.acknowledgedAt ? `${d.detection.acknowledgedBy} at ${d.detection.acknowledgedAt} (${dur(d.detection.timeToAcknowledgeS)} after the first alert)` : "none recorded"}</li></ul>
<h2>Timeline (UTC)</h2>
${table("Timeline", ["minute", "who", "event", "step", "detail"], d.timeline.map((t) => h`<tr><td>${t.minute}</td><td>${t.actor} (${t.surface})</td><td><code>${t.kind}</code></td><td>${t.step ?? ""}</td><td>${t.summary}</td></tr>`), "No events.")}
<h2>Mitigation</h2>
<ul>${d.mitigation.length ? d.mitigation.map((m) => h`<li>${m}</li>`) : h`<li>no mutating step ran</li>`}</ul>
<h2>Outcome</h2>
<ul>${d.outcomes.length ? d.outcomes.map((o) => h`<li>run <a href="${runHref(o.runId)}">${o.runId}</a> (${o.playbook}): ${o.fixed ? h`<strong>${o.outcome}</strong>` : o.outcome}${o.reasons.length ? ` — ${o.reasons.join("; ")}` : ""}</li>`) : h`<li>no run for this incident</li>`}</ul>
<h2>Suggested action items</h2>
<ul>${d.actionItems.length ? d.actionItems.map((a) => h`<li>${a.text} <span class="muted">(from ${a.evidence.map((e) => `#${e.seq} ${e.kind}`).join(", ")})</span></li>`) : h`<li>none derived from the trail; add what the team learned</li>`}</ul>`;
}
