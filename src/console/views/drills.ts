import { renderLineChartSvg } from "../../charts/line.ts";
import type { DrillReport, Scores } from "../../drills/report.ts";
import type { DrillGroup } from "../read.ts";
import { h, type Html } from "./html.ts";
import { badge, incidentHref, runHref, table, time } from "./parts.ts";

export const SCORE_SERIES: readonly { key: keyof Scores; name: string }[] = [
  { key: "detectS", name: "time to detect" },
  { key: "acknowledgeS", name: "time to acknowledge" },
  { key: "approveS", name: "time to approve" },
  { key: "recoverS", name: "time to recover" },
];

const fmt = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${Math.round(v * 10) / 10} s`);

/** A drill's scores over its runs (oldest first), as SVG: one line per score; a score never measured is a gap. */
export function drillChartSvg(g: DrillGroup): string | null {
  const runs = g.runs.filter((r) => r.parsedReport).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  if (runs.length === 0) return null;
  return renderLineChartSvg({
    title: `${g.title}: scores over its runs`,
    subtitle: `${runs.length} run${runs.length === 1 ? "" : "s"}; seconds from the injection`,
    series: SCORE_SERIES.map((s) => ({ name: s.name, points: runs.map((r) => [r.startedAt.getTime(), r.parsedReport!.scores[s.key] ?? NaN] as const) })),
    width: 900,
    height: 320,
  });
}

function reportBody(r: DrillReport): Html {
  const criteria = r.criteria.map(
    (c) => h`<tr><td>${c.name}</td><td>${c.expected}</td><td>${c.measured === null ? "never" : `${String(c.measured)}${c.unit && c.unit !== "ratio" ? ` ${c.unit}` : ""}`}</td><td>${badge(c.ok ? "held" : "missed", c.ok ? "succeeded" : "failed")}</td><td>${c.detail}</td></tr>`,
  );
  const timeline = r.timeline.map((t) => h`<tr><td>${String(Math.round(t.t))} s</td><td>${time(t.at)}</td><td>${t.event}</td><td>${t.detail}</td></tr>`);
  return h`<p>${r.drill.hypothesis}</p>
<p>Hypothesis ${r.hypothesisHeld === null ? "not judged (aborted)" : r.hypothesisHeld ? "held" : "did not hold"}${r.reason ? h` — ${r.reason}` : null}.
${r.incidentId ? h` Incident <a href="${incidentHref(r.incidentId)}">${r.incidentId}</a>.` : null}${r.runId ? h` Run <a href="${runHref(r.runId)}">${r.runId}</a>.` : null}</p>
<dl class="facts">${SCORE_SERIES.map((s) => h`<div><dt>${s.name}</dt><dd>${fmt(r.scores[s.key])}</dd></div>`)}</dl>
${table("Criteria", ["criterion", "expected", "measured", "", "detail"], criteria, "No criteria.")}
${r.simulated.length ? h`<p class="muted">Simulated in this rehearsal: ${r.simulated.join("; ")}</p>` : null}
${table("Drill timeline", ["t", "time (UTC)", "event", "detail"], timeline, "No timeline.")}`;
}

export function drillsBody(groups: readonly DrillGroup[]): Html {
  if (groups.length === 0) return h`<h1>Drills</h1><p class="muted">No drill has run, and none is loaded. <code>belay drill list</code> lists the drills in playbooks/drills/.</p>`;
  return h`<h1>Drills</h1>
${groups.map((g) => {
  const hasChart = g.runs.some((r) => r.parsedReport);
  const rows = g.runs.map((r) => h`<tr><td><a href="#report-${r.id}">${r.id}</a></td><td>${time(r.startedAt)}</td><td>${r.mode}</td><td>${r.target}</td><td>${badge(r.status)}</td><td>${r.startedBy}</td>${SCORE_SERIES.map((s) => h`<td>${fmt(r.parsedReport?.scores[s.key])}</td>`)}</tr>`);
  return h`<section class="drill" id="drill-${g.drillId}" aria-label="Drill ${g.drillId}">
<h2>${g.title} <span class="muted">(${g.drillId})</span></h2>
${hasChart ? h`<figure><img src="/console/drills/${encodeURIComponent(g.drillId)}/chart.svg" alt="Scores of drill ${g.drillId} over its runs: time to detect, acknowledge, approve and recover" width="900" height="320"></figure>` : null}
${table(`Runs of ${g.drillId}`, ["drill run", "started", "mode", "target", "state", "by", "detect", "acknowledge", "approve", "recover"], rows, "This drill has not run yet.")}
${g.runs.filter((r) => r.parsedReport).map((r) => h`<details id="report-${r.id}"><summary>Report of ${r.id} · ${r.parsedReport!.status}</summary>${reportBody(r.parsedReport!)}</details>`)}
</section>`;
})}`;
}
