import type { Drill, DrillAlert } from "../sdk/drill.ts";

/** The fingerprint of a drill run's synthetic alert: how the drill finds its incident. */
export const drillFingerprint = (drillRunId: string) => `drill-${drillRunId}`;

export function drillAlertOf(drill: Drill, target: string): DrillAlert {
  return typeof drill.meta.alert === "function" ? drill.meta.alert({ target }) : drill.meta.alert;
}

/**
 * The synthetic alert as an Alertmanager (version 4) webhook: the same bytes a real
 * Alertmanager would send, marked DRILL in its labels, its summary and its group key, so it
 * takes belay's real ingest path and nobody mistakes it for a real incident.
 */
export function drillAlertPayload(drill: Drill, opts: { drillRunId: string; target: string; status: "firing" | "resolved"; startsAt: Date; endsAt?: Date }) {
  const a = drillAlertOf(drill, opts.target);
  const labels = {
    ...a.labels,
    alertname: a.alertname,
    severity: a.severity ?? "warning",
    drill: "true",
    belay_drill: opts.drillRunId,
  };
  return {
    version: "4",
    groupKey: `{}/{drill="true"}:{belay_drill="${opts.drillRunId}"}`,
    truncatedAlerts: 0,
    status: opts.status,
    receiver: "belay-drill",
    groupLabels: { belay_drill: opts.drillRunId },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: "",
    alerts: [
      {
        status: opts.status,
        labels,
        annotations: {
          ...a.annotations,
          summary: `DRILL ${opts.drillRunId}: ${a.summary}`,
          description: `Game-day drill ${drill.id} (${drill.meta.mode}). Not a real incident: ${drill.meta.hypothesis}`,
        },
        startsAt: opts.startsAt.toISOString(),
        endsAt: (opts.endsAt ?? new Date(0)).toISOString(),
        generatorURL: "",
        fingerprint: drillFingerprint(opts.drillRunId),
      },
    ],
  };
}
