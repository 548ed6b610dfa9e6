import type { App } from "@slack/bolt";
import { appendAudit } from "../audit/chain.ts";
import { newId } from "../ids.ts";
import type { SlackContext } from "./context.ts";

/** The workspace (and Enterprise Grid org) belay is installed in, from auth.test at start. */
export interface Installation {
  teamId: string;
  enterpriseId: string | null;
}

/** Where a request says it came from: its team, the acting user's home team, its org. */
export interface RequestOrigin {
  teamId: string | null;
  userTeamId: string | null;
  enterpriseId: string | null;
}

/** Reads the origin of a slash command, interaction or view submission. Pure. */
export function originOf(body: Record<string, any>): RequestOrigin {
  return {
    teamId: body.team_id ?? body.team?.id ?? body.view?.team_id ?? null,
    userTeamId: body.user?.team_id ?? null,
    enterpriseId: body.enterprise_id ?? body.enterprise?.id ?? null,
  };
}

/**
 * Why a request from elsewhere is refused, or null when it comes from the installed team. A
 * signed request proves only that Slack sent it; an app shared into another workspace (or a
 * Slack Connect channel) hears from people belay's policy and `people:` map know nothing of.
 */
export function foreignOrigin(installed: Installation, o: RequestOrigin): string | null {
  if (o.enterpriseId !== null && o.enterpriseId !== installed.enterpriseId) return `enterprise ${o.enterpriseId} is not the installed one (${installed.enterpriseId ?? "none"})`;
  if (o.teamId === null) return "the request names no team";
  if (o.teamId !== installed.teamId) return `team ${o.teamId} is not the installed team ${installed.teamId}`;
  if (o.userTeamId !== null && o.userTeamId !== installed.teamId) return `the user belongs to team ${o.userTeamId}, not the installed team ${installed.teamId}`;
  return null;
}

/**
 * Every kind of request a listener (unhandled.ts's catch-alls included) answers: the legacy
 * attachment buttons, dialogs and options requests too, or a foreign one would get help text.
 */
const CHECKED: ReadonlySet<string> = new Set([
  "slash_command",
  "block_actions",
  "view_submission",
  "view_closed",
  "shortcut",
  "message_action",
  "interactive_message",
  "dialog_submission",
  "dialog_cancellation",
  "block_suggestion",
  "dialog_suggestion",
]);

const REFUSAL = ":no_entry_sign: belay acts only for people of the workspace it is installed in; this request came from elsewhere, so nothing was done.";

/**
 * Global middleware, first in line: a command, click or form from another team or org is
 * acked with an explanation (ephemeral where Slack lets belay answer), logged and audited,
 * and goes no further. Until auth.test has answered, nothing is let through.
 */
export function refuseForeignRequests(app: App, ctx: SlackContext, installed: () => Installation | null): void {
  app.use(async (args) => {
    const body = args.body as Record<string, any>;
    const type: string = body.type ?? (body.command ? "slash_command" : "unknown");
    if (!CHECKED.has(type)) return args.next();
    const here = installed();
    const origin = originOf(body);
    const why = here ? foreignOrigin(here, origin) : "belay has not yet checked which team it is installed in";
    if (why === null) return args.next();
    const user: string = body.user_id ?? body.user?.id ?? "unknown";
    const a = args as unknown as { ack?: (r?: unknown) => Promise<void>; respond?: (r: unknown) => Promise<unknown> };
    if (type === "slash_command") await a.ack?.({ response_type: "ephemeral", text: REFUSAL });
    else if (type === "block_suggestion" || type === "dialog_suggestion") await a.ack?.({ options: [] });
    else {
      await a.ack?.();
      // response_url answers in the conversation the click came from, to the clicker alone.
      if (type === "block_actions" || type === "interactive_message" || type === "dialog_submission") await a.respond?.({ response_type: "ephemeral", replace_original: false, text: REFUSAL }).catch((err) => ctx.logger.warn({ err }, "telling a foreign clicker failed"));
    }
    ctx.logger.warn({ user, origin, type, reason: why }, "refused a Slack request from outside the installed team");
    ctx.background("auditing a foreign Slack request", () =>
      ctx.db.transaction((tx) =>
        appendAudit(
          tx,
          [{ kind: "slack.request_refused", actor: user, surface: "slack", data: { type, reason: why, origin, installed: here ? { teamId: here.teamId, enterpriseId: here.enterpriseId } : null } }],
          { now: ctx.clock(), newId: () => newId("evt") },
        ),
      ),
    );
  });
}
