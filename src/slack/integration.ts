import type { Core } from "../main.ts";
import type { IncidentNotifier, Integration } from "../surfaces.ts";

/** The Slack surface. (Placeholder until the Slack app lands: it reports itself off.) */
export async function createSlackIntegration(core: Core): Promise<{ integration: Integration; notifier: IncidentNotifier }> {
  const env = core.config.env;
  const notifier: IncidentNotifier = {
    async postTriage(report) {
      core.logger.info({ incident: report.incident.id, failureMode: report.failureMode, runId: report.runId }, "triage (Slack is off)");
      return null;
    },
    async postResolved(incident) {
      core.logger.info({ incident: incident.id }, "incident resolved (Slack is off)");
    },
  };
  const status = env.SLACK_BOT_TOKEN && env.SLACK_SIGNING_SECRET ? "not built into this version yet" : "not configured (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)";
  return { integration: { name: "Slack", routes: [], status }, notifier };
}
