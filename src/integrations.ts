import type { Core } from "./core.ts";
import type { Integration } from "./surfaces.ts";
import { createAnchorIntegration } from "./audit/integration.ts";
import { createConsoleIntegration } from "./console/integration.ts";
import { createIngestIntegrations } from "./ingest/integration.ts";
import { createSlackIntegration } from "./slack/integration.ts";

/**
 * The surfaces `belay serve` mounts, in order. Slack comes first: ingestion hands it the
 * incidents to post (through the IncidentNotifier it exposes). The console comes last: it
 * only reads, and decides through the engine like Slack does.
 */
export async function integrations(core: Core): Promise<Integration[]> {
  const slack = await createSlackIntegration(core);
  const ingest = await createIngestIntegrations(core, { notifier: slack.notifier, registerAction: slack.registerAction });
  return [slack.integration, ...ingest, createAnchorIntegration(core, slack.surface), await createConsoleIntegration(core)];
}
