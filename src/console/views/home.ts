import type { IncidentRow, IndexData } from "../read.ts";
import { h, type Html } from "./html.ts";
import { age, badge, incidentHref, runHref, table, time } from "./parts.ts";

function incidentRows(rows: readonly IncidentRow[], now: Date): Html[] {
  return rows.map(
    (r) => h`<tr>
<td><a href="${incidentHref(r.incident.id)}">${r.incident.drill ? "DRILL · " : ""}${r.incident.title}</a></td>
<td>${r.incident.severity ?? "—"}</td>
<td>${r.incident.failureMode ?? "—"}</td>
<td>${r.targets.length ? r.targets.join(", ") : (r.incident.service ?? "—")}</td>
<td><span title="${r.incident.createdAt.toISOString()}">${age(r.incident.createdAt, now)}</span></td>
<td>${String(r.alerts.firing)}/${String(r.alerts.total)}</td>
<td>${r.latestRun ? h`<a href="${runHref(r.latestRun.run.id)}">${badge(r.latestRun.run.status)}</a> ${r.latestRun.outcome.label}` : h`<span class="muted">no run</span>`}</td>
</tr>`,
  );
}

export function homeBody(d: IndexData, now: Date): Html {
  const head = ["incident", "severity", "failure mode", "target", "age", "firing/alerts", "run"];
  const waiting = d.waiting.map(
    (r) => h`<tr><td><a href="${runHref(r.id)}">${r.playbookId}</a></td><td>${badge(r.status)}</td><td>${r.statusReason ?? ""}</td><td>${r.requestedBy}</td><td>${r.incidentId ? h`<a href="${incidentHref(r.incidentId)}">${r.incidentId}</a>` : "—"}</td><td>${time(r.updatedAt)}</td></tr>`,
  );
  const drills = d.drills.map(
    (x) => h`<tr><td><a href="/console/drills#drill-${x.drillId}">${x.drillId}</a> <span class="muted">${x.id}</span></td><td>${x.mode}</td><td>${x.target}</td><td>${badge(x.status)}</td><td>${x.startedBy}</td><td>${time(x.startedAt)}</td><td>${x.incidentId ? h`<a href="${incidentHref(x.incidentId)}">${x.incidentId}</a>` : "—"}</td></tr>`,
  );
  return h`<h1>Incidents</h1>
<h2>Waiting for people</h2>
${table("Runs waiting for people", ["run", "state", "why", "requested by", "incident", "since"], waiting, "No run is waiting for anyone.")}
<h2>Open now</h2>
${table("Open incidents", head, incidentRows(d.open, now), "No incident is open.")}
<h2>Drills in progress</h2>
${table("Drills in progress", ["drill", "mode", "target", "state", "started by", "started", "incident"], drills, "No drill is running.")}
<h2>Recently resolved</h2>
${table("Recently resolved incidents", head, incidentRows(d.recent, now), "No incident has been resolved yet.")}`;
}
