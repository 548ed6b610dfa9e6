/**
 * PagerDuty's REST API for belay: incident notes (auto-triage), acknowledge (the Slack
 * button), resolve. `pagerDutyFromConfig` builds the client from PAGERDUTY_* settings.
 */
import type { Env } from "../config.ts";
import { createPagerDutyClient, type PagerDutyClient } from "./client.ts";

export { acknowledgeIncident, type AcknowledgeDeps, type AcknowledgeResult } from "./acknowledge.ts";
export { createPagerDutyClient, type PagerDutyClient, type PagerDutyClientOptions, type PagerDutyResult } from "./client.ts";
export { formatTriageNote } from "./note.ts";

/**
 * The client, or null when PAGERDUTY_TOKEN or PAGERDUTY_FROM is missing.
 *
 * @example
 * const pd = pagerDutyFromConfig(core.config.env);
 * const ack = acknowledgeIncident({ db: core.db, client: pd, clock: () => new Date(), newId });
 */
export function pagerDutyFromConfig(env: Pick<Env, "PAGERDUTY_TOKEN" | "PAGERDUTY_FROM" | "PAGERDUTY_API_URL">): PagerDutyClient | null {
  if (!env.PAGERDUTY_TOKEN || !env.PAGERDUTY_FROM) return null;
  return createPagerDutyClient({ token: env.PAGERDUTY_TOKEN, from: env.PAGERDUTY_FROM, apiUrl: env.PAGERDUTY_API_URL });
}
