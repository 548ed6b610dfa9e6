import type { Principal } from "../identity/principal.ts";
import { newId } from "../ids.ts";
import type { Metrics } from "../server/metrics.ts";
import type { Core } from "../core.ts";
import { acknowledgeIncident, pagerDutyFromConfig } from "../pagerduty/index.ts";
import type { IncidentNotifier, Integration } from "../surfaces.ts";
import { createIngestion } from "./pipeline.ts";
import { splitSecrets } from "./webhook-auth.ts";

/**
 * Alert webhooks for `belay serve`: `POST /webhooks/pagerduty` and `POST /webhooks/alertmanager`
 * on the shared port, and the worker that turns stored alerts into triaged incidents.
 */
export async function createIngestIntegrations(
  core: Core,
  deps: {
    notifier: IncidentNotifier;
    /** The Slack app's hook for buttons it does not own: given, the "Acknowledge in PagerDuty" button works. */
    registerAction?: (action: string, handler: (input: { incidentId: string | null; userId: string; principal: Principal }) => Promise<string | void>) => void;
  },
): Promise<Integration[]> {
  const env = core.config.env;
  const pagerduty = pagerDutyFromConfig(env);
  const secrets = splitSecrets(env.PAGERDUTY_WEBHOOK_SECRET);
  const ingestion = createIngestion({
    db: core.db,
    inboxDb: core.inboxDb,
    engine: core.engine,
    playbooks: [...core.playbooks.values()],
    notifier: deps.notifier,
    pagerduty,
    logger: core.logger,
    clock: () => new Date(),
    newId,
    owner: core.engine.deps.owner,
    pagerdutySecrets: secrets,
    alertmanagerToken: env.ALERTMANAGER_TOKEN ?? null,
    bodyLimit: env.BELAY_WEBHOOK_BODY_LIMIT,
    windowMs: env.BELAY_INCIDENT_WINDOW_SECONDS * 1000,
    webhookMaxAgeMs: env.BELAY_WEBHOOK_MAX_AGE_SECONDS * 1000,
    targets: core.config.file.targets,
    holder: core.targets,
    resolveSettleMs: env.BELAY_RESOLVE_SETTLE_SECONDS * 1000,
    watchAfterFixMs: env.BELAY_WATCH_AFTER_FIX_MINUTES * 60_000,
    // Audit events reach the same subscribers (Slack re-renders, metrics) as the engine's.
    onEvents: (events) => core.engine.deps.onEvents?.(events),
    ...webhookCounters(core.metrics),
    onDrained: (r) => {
      if (r.opened.length) core.metrics.inc("belay_incidents_opened_total", "Incidents opened from alerts.", {}, r.opened.length);
      if (r.resolved.length) core.metrics.inc("belay_incidents_resolved_total", "Incidents resolved when their alerts resolved.", {}, r.resolved.length);
    },
  });
  const acknowledge = acknowledgeIncident({ db: core.db, client: pagerduty, clock: () => new Date(), newId, onEvents: (e) => core.engine.deps.onEvents?.(e) });
  deps.registerAction?.("pagerduty.acknowledge", async ({ incidentId, principal }) => {
    if (!incidentId) return "this button names no incident";
    const r = await acknowledge(incidentId, { id: principal.person, surface: principal.surface });
    return r.ok ? `:white_check_mark: ${r.message}` : `:warning: ${r.message}`;
  });
  const byPath = (p: string) => ingestion.routes.filter((r) => r.path === p);
  const pdNote = pagerduty ? `notes as ${env.PAGERDUTY_FROM}` : "no notes (set PAGERDUTY_TOKEN and PAGERDUTY_FROM)";
  return [
    {
      name: "PagerDuty webhooks",
      routes: byPath("/webhooks/pagerduty"),
      status: secrets.length ? `on (POST /webhooks/pagerduty, ${secrets.length} secret${secrets.length > 1 ? "s" : ""}; ${pdNote})` : "not configured (set PAGERDUTY_WEBHOOK_SECRET)",
      // The worker drains whatever was stored, whichever route stored it (or a crash left behind).
      start: async () => ingestion.start(),
      onEvents: ingestion.onEvents,
      stop: () => ingestion.stop(),
    },
    {
      name: "Alertmanager webhooks",
      routes: byPath("/webhooks/alertmanager"),
      status: env.ALERTMANAGER_TOKEN ? "on (POST /webhooks/alertmanager)" : "not configured (set ALERTMANAGER_TOKEN)",
    },
  ];
}

/** The webhook counters on /metrics. */
export function webhookCounters(metrics: Metrics) {
  return {
    countWebhook: (source: string, status: number, alerts: number) => {
      metrics.inc("belay_webhooks_total", "Webhook deliveries answered, by source and status.", { source, status: String(status) });
      if (alerts > 0) metrics.inc("belay_alerts_stored_total", "Alerts stored from webhooks, by source.", { source }, alerts);
    },
    countStaleWebhook: (source: string) =>
      metrics.inc("belay_webhooks_stale_total", "Webhook deliveries acknowledged but ignored as older than BELAY_WEBHOOK_MAX_AGE_SECONDS.", { source }),
  };
}
