import type { Core } from "../main.ts";
import type { IncidentNotifier, Integration } from "../surfaces.ts";

/** Alert webhooks. (Placeholder until ingestion lands: it reports itself off.) */
export async function createIngestIntegrations(core: Core, _deps: { notifier: IncidentNotifier }): Promise<Integration[]> {
  const env = core.config.env;
  return [
    { name: "PagerDuty webhooks", routes: [], status: env.PAGERDUTY_WEBHOOK_SECRET ? "not built into this version yet" : "not configured (set PAGERDUTY_WEBHOOK_SECRET)" },
    { name: "Alertmanager webhooks", routes: [], status: env.ALERTMANAGER_TOKEN ? "not built into this version yet" : "not configured (set ALERTMANAGER_TOKEN)" },
  ];
}
