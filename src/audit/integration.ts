import { newId } from "../ids.ts";
import type { Core } from "../core.ts";
import type { SlackSurface } from "../slack/surface.ts";
import type { Integration } from "../surfaces.ts";
import { createAnchor } from "./anchor.ts";

/**
 * Audit anchoring for `belay serve`: events are signed (BELAY_AUDIT_HMAC_KEY) soon after they
 * commit, and the head is published to the log, and to slack.channel when Slack is on.
 */
export function createAnchorIntegration(core: Core, slack: SlackSurface | null, opts: { publishEveryMs?: number } = {}): Integration {
  const key = core.config.env.BELAY_AUDIT_HMAC_KEY ?? null;
  const channel = slack?.ctx.settings.channel ?? null;
  const anchor = createAnchor({
    db: core.db,
    key,
    logger: core.logger,
    ...(opts.publishEveryMs ? { publishEveryMs: opts.publishEveryMs } : {}),
    ...(slack && channel
      ? {
          publish: async (text: string) => {
            await slack.ctx.publisher.show({ key: `note:${newId("anchor")}`, channel, threadTs: null, runId: null, context: { text } });
          },
        }
      : {}),
  });
  return {
    name: "Audit anchoring",
    routes: [],
    status:
      (key ? "events signed with BELAY_AUDIT_HMAC_KEY" : "events not signed (set BELAY_AUDIT_HMAC_KEY)") +
      `; head published to the log${channel ? ` and ${channel}` : ""}`,
    start: async () => anchor.start(),
    stop: () => anchor.stop(),
    onEvents: () => anchor.onEvents(),
  };
}
