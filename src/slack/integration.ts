import { catalog } from "../catalog/index.ts";
import type { Core } from "../core.ts";
import { createMatcher } from "../match/index.ts";
import type { IncidentNotifier, Integration } from "../surfaces.ts";
import type { ExternalActionHandler, SlackSettings } from "./context.ts";
import { incidentCharts } from "./chart.ts";
import { SlackSurface } from "./surface.ts";

/** Buttons stay good this long; after that a click refreshes the message instead. */
const BUTTON_TTL_MS = 24 * 60 * 60 * 1000;

/** Slack with credentials: the settings; without, why it is off. */
export function slackSettings(core: Pick<Core, "config">): SlackSettings | { off: string } {
  const { env, file } = core.config;
  if (!env.SLACK_BOT_TOKEN || !env.SLACK_SIGNING_SECRET) {
    return { off: `off: not configured (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET${env.SLACK_BOT_TOKEN ? "" : "; SLACK_APP_TOKEN too for Socket Mode"})` };
  }
  return {
    botToken: env.SLACK_BOT_TOKEN,
    signingSecret: env.SLACK_SIGNING_SECRET,
    appToken: env.SLACK_APP_TOKEN ?? null,
    apiUrl: env.SLACK_API_URL,
    command: file.slack.command,
    channel: file.slack.channel ?? null,
    usergroups: file.slack.usergroups,
    usergroupCacheMs: file.slack.usergroupCacheSeconds * 1000,
    buttonTtlMs: BUTTON_TTL_MS,
    people: core.config.people,
    acknowledgeRisk: file.pagerduty.acknowledgeRisk,
  };
}

/** Notices instead of posts, for when Slack is off. */
function loggingNotifier(core: Core): IncidentNotifier {
  return {
    async postTriage(report) {
      core.logger.info({ incident: report.incident.id, failureMode: report.failureMode, runId: report.runId }, "triage (Slack is off)");
      return null;
    },
    async postResolved(incident) {
      core.logger.info({ incident: incident.id }, "incident resolved (Slack is off)");
    },
  };
}

/**
 * The Slack surface for `belay serve`. Without credentials belay still starts and says
 * Slack is off. `registerAction` is the hook for buttons another surface owns (the
 * PagerDuty "acknowledge" button on an incident's thread root).
 */
export async function createSlackIntegration(
  core: Core,
  opts: { actions?: Record<string, ExternalActionHandler> } = {},
): Promise<{ integration: Integration; notifier: IncidentNotifier; registerAction: (action: string, handler: ExternalActionHandler) => void; surface: SlackSurface | null }> {
  const settings = slackSettings(core);
  if ("off" in settings) {
    return { integration: { name: "Slack", routes: [], status: settings.off }, notifier: loggingNotifier(core), registerAction: () => {}, surface: null };
  }
  const surface = new SlackSurface({
    engine: core.engine,
    matcher: createMatcher([...core.playbooks.values()], catalog),
    logger: core.logger,
    settings,
    targets: core.config.file.targets,
    ...(opts.actions ? { actions: opts.actions } : {}),
    drills: () =>
      core.drills
        ? {
            defs: core.drills.defs,
            session: core.drills.session,
            blocked: core.config.env.ALERTMANAGER_TOKEN ? null : "drills send their DRILL alert through the Alertmanager webhook: set ALERTMANAGER_TOKEN",
          }
        : null,
  });
  // ECharts and resvg load with the first chart, not at start.
  const charts = incidentCharts(surface.ctx, async (id) =>
    (await import("../incidents/chart.ts")).incidentChart({ db: core.db, targets: core.targets, clock: () => new Date(), logger: core.logger }, id),
  );
  const integration: Integration = {
    name: "Slack",
    routes: surface.routes,
    status: surface.status,
    start: () => surface.start(),
    stop: () => surface.stop(),
    onEvents: (events) => {
      surface.onEvents(events);
      charts.onEvents(events);
    },
    notify: (run, message) => surface.notifier.notify(run, message),
  };
  return { integration, notifier: surface.notifier, registerAction: (a, h) => surface.registerAction(a, h), surface };
}
