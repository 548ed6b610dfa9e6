import type { AuditEvent } from "../../audit/events.ts";
import { toTimeline } from "../../audit/timeline.ts";
import type { ChainVerdict, IncidentData } from "../read.ts";
import { h, type Html } from "./html.ts";
import { badge, externalHref, incidentHref, runHref, table, time } from "./parts.ts";
import { runSection, type RunRenderOptions } from "./run.ts";

export function chainBanner(c: ChainVerdict): Html {
  return c.ok
    ? h`<p class="notice ok">Audit chain verified: ${String(c.events)} events intact, head <code>${c.headHash.slice(0, 16)}</code> (checked ${time(c.checkedAt)}).</p>`
    : h`<p class="notice error"><strong>Audit chain broken</strong> (checked ${time(c.checkedAt)}): ${c.problem ?? "unknown problem"}. Do not trust this timeline until the trail is explained; run <code>belay audit verify</code>.</p>`;
}

export function timelineTable(events: readonly AuditEvent[]): Html {
  const rows = toTimeline(events).map(
    (t, i) => h`<tr><td>${String(events[i]!.seq)}</td><td>${time(t.at)}</td><td>${t.actor} <span class="muted">(${t.surface})</span></td><td><code>${t.kind}</code></td><td>${t.runId ? h`<a href="${runHref(t.runId)}">${t.step ?? t.runId}</a>` : (t.step ?? "")}</td><td>${t.summary}</td></tr>`,
  );
  return table("Audit timeline", ["#", "time (UTC)", "who", "event", "step / run", "detail"], rows, "No audit events yet.");
}

/** An incident: its alerts, its runs with their whole plans, the audit timeline with the chain's verdict, the metric's chart. */
export function incidentBody(d: IncidentData, o: RunRenderOptions): Html {
  const i = d.incident;
  const alerts = d.alerts.map(
    (a) => h`<tr><td>${badge(a.status, a.status === "firing" ? "failed" : "succeeded")}</td><td>${a.alert.title}</td><td>${a.source}</td><td>${time(a.alert.startsAt ?? a.firstSeenAt)}</td><td class="labels">${Object.entries(a.alert.labels ?? {}).map(([k, v]) => h`<code>${k}=${v}</code> `)}</td></tr>`,
  );
  return h`<h1>${i.drill ? h`<span class="badge b-drill">drill</span> ` : null}${i.title}</h1>
<dl class="facts">
<div><dt>Incident</dt><dd><code>${i.id}</code></dd></div>
<div><dt>Status</dt><dd>${badge(i.status, i.status === "open" ? "failed" : "succeeded")}</dd></div>
<div><dt>Severity</dt><dd>${i.severity ?? "—"}</dd></div>
<div><dt>Failure mode</dt><dd>${i.failureMode ?? "not recognised"}</dd></div>
<div><dt>Service</dt><dd>${i.service ?? "—"}</dd></div>
<div><dt>Target</dt><dd>${d.targets.length ? d.targets.join(", ") : "—"}</dd></div>
<div><dt>Opened</dt><dd>${time(i.createdAt)}</dd></div>
${i.resolvedAt ? h`<div><dt>Resolved</dt><dd>${time(i.resolvedAt)}</dd></div>` : null}
${externalHref(i.slackPermalink) ? h`<div><dt>Slack</dt><dd><a href="${externalHref(i.slackPermalink)}" rel="noreferrer">thread</a></dd></div>` : null}
</dl>
<p><a href="/console/postmortems/${encodeURIComponent(i.id)}">Postmortem draft</a></p>
<h2>Alerts</h2>
${table("Alerts", ["status", "alert", "source", "startsAt", "labels"], alerts, "No alerts recorded.")}
${d.hasChart ? h`<h2>The firing metric</h2><figure><img src="${incidentHref(i.id)}/chart.png" alt="Chart of the alert's expression over the incident, from the configured Prometheus" width="900" height="360"><figcaption>The alert's expression over the incident (shaded), from Prometheus.</figcaption></figure>` : null}
<h2>Runs</h2>
${d.runs.length ? d.runs.map((r) => runSection(r, { ...o, level: 2 })) : h`<p class="muted">No run was proposed for this incident.</p>`}
<h2>Audit timeline</h2>
${chainBanner(d.chain)}
${timelineTable(d.timeline)}`;
}
