import type { Config } from "../config.ts";
import { alertsOf, getIncident, listIncidents } from "../incidents/queries.ts";
import { listRuns } from "../store/runs.ts";
import { openStore } from "../store/open.ts";
import { configFrom, parseLimit, UsageError, type CliIo } from "./io.ts";
import type { IncidentsListOptions } from "./options.ts";
import { resolveId } from "./resolve.ts";
import { tabulate } from "./tabulate.ts";

function open(config: Config, command: string) {
  return openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command });
}

/** `belay incidents [list] [--status open|resolved] [--limit N] [--json]`: ids for postmortem, retriage and run --incident. */
export async function incidentsList(o: IncidentsListOptions, io: CliIo): Promise<number> {
  const limit = parseLimit(o.limit);
  if (o.status !== undefined && o.status !== "open" && o.status !== "resolved") throw new UsageError(`--status ${o.status}: use open or resolved`);
  const db = await open(configFrom(io), "belay incidents");
  try {
    const incidents = await listIncidents(db, { limit, ...(o.status ? { status: o.status } : {}) });
    if (o.json) return io.out(JSON.stringify({ incidents }, null, 2)), 0;
    if (incidents.length === 0) {
      io.out(`no ${o.status ?? ""}${o.status ? " " : ""}incidents yet (belay opens one when an alert arrives on a webhook)`);
      return 0;
    }
    const rows = incidents.map((i) => [i.id, i.createdAt.toISOString(), `${i.status}${i.drill ? " (DRILL)" : ""}`, i.failureMode ?? "—", String(i.alertCount), i.title]);
    io.out(tabulate(["INCIDENT", "OPENED", "STATUS", "FAILURE MODE", "ALERTS", "TITLE"], rows));
    io.out("\n`belay incidents show ID` for one; `belay postmortem ID` drafts its review.");
    return 0;
  } finally {
    await db.close();
  }
}

/** `belay incidents show ID [--json]`: the incident, its alerts and its runs. */
export async function incidentsShow(ref: string, o: { json?: boolean }, io: CliIo): Promise<number> {
  const db = await open(configFrom(io), "belay incidents show");
  try {
    const id = (await resolveId(db, "incident", ref)) ?? ref;
    const incident = await getIncident(db, id);
    if (!incident) {
      io.err(`no incident ${ref}; \`belay incidents\` lists recent ones`);
      return 1;
    }
    const [alerts, runs] = await Promise.all([alertsOf(db, id), listRuns(db, { limit: 50, incidentId: id })]);
    if (o.json) return io.out(JSON.stringify({ incident, alerts, runs }, null, 2)), 0;
    const lines = [
      `Incident ${incident.id}: ${incident.title}${incident.drill ? "  [DRILL]" : ""}`,
      `  status ${incident.status}; opened ${incident.createdAt.toISOString()}${incident.resolvedAt ? `, resolved ${incident.resolvedAt.toISOString()}` : ""}`,
      `  failure mode ${incident.failureMode ?? "none recognised"}; service ${incident.service ?? "—"}; severity ${incident.severity ?? "—"}; source ${incident.source ?? "—"}`,
    ];
    if (incident.pagerdutyIncidentId) lines.push(`  PagerDuty ${incident.pagerdutyIncidentId} (${incident.pagerdutyStatus ?? "?"})`);
    if (incident.slackPermalink) lines.push(`  Slack thread ${incident.slackPermalink}`);
    lines.push("", `Alerts (${alerts.length}):`);
    lines.push(alerts.length ? tabulate(["STATUS", "SOURCE", "FIRST SEEN", "TITLE"], alerts.map((a) => [a.status, a.source, a.firstSeenAt.toISOString(), a.alert.title]), { indent: "  " }) : "  none");
    lines.push("", `Runs (${runs.length}):`);
    lines.push(runs.length ? tabulate(["RUN", "STATUS", "PLAYBOOK", "REQUESTED BY"], runs.map((r) => [r.id, r.status, r.playbookId, r.requestedBy]), { indent: "  " }) : "  none");
    io.out(lines.join("\n"));
    return 0;
  } finally {
    await db.close();
  }
}
