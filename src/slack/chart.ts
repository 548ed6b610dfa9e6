import type { AuditEvent } from "../audit/events.ts";
import { describeError } from "../errors.ts";
import type { IncidentChart } from "../incidents/chart.ts";
import type { SlackContext } from "./context.ts";
import { getMessage } from "./store.ts";

/**
 * Once an incident is triaged, its firing expression over the incident window goes into
 * the incident's thread as a PNG (files.uploadV2: needs the files:write scope). Best
 * effort: a missing Prometheus, no data or a failed upload is logged, never in the way.
 */
export function incidentCharts(ctx: SlackContext, build: (incidentId: string) => Promise<IncidentChart | null>): { onEvents(events: readonly AuditEvent[]): void } {
  const started = new Set<string>();

  async function post(incidentId: string): Promise<void> {
    const key = `incident:${incidentId}`;
    const root = await getMessage(ctx.db, key);
    if (!root) return; // not posted in Slack (no channel, or Slack answered nothing)
    const ts = root.ts ?? (await ctx.publisher.posted(key));
    if (!ts) return;
    const chart = await build(incidentId);
    if (!chart) return;
    await ctx.web.files.uploadV2({
      channel_id: root.channel,
      thread_ts: ts,
      file: chart.png,
      filename: chart.filename,
      title: chart.title,
      initial_comment: `:chart_with_upwards_trend: \`${chart.expr}\` from ${chart.from.toISOString().slice(11, 19)} to ${chart.to.toISOString().slice(11, 19)} UTC`,
    });
  }

  return {
    onEvents(events) {
      for (const e of events) {
        if (e.kind !== "incident.triaged" || !e.incidentId || started.has(e.incidentId)) continue;
        started.add(e.incidentId);
        const id = e.incidentId;
        ctx.background("posting an incident chart", () =>
          post(id).catch((err: unknown) => ctx.logger.warn({ incident: id, err: describeError(err) }, "incident chart not posted")),
        );
      }
    },
  };
}
