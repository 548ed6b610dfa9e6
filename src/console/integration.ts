import { getRequestListener } from "@hono/node-server";
import type { Handler } from "../server/http.ts";
import type { Integration } from "../surfaces.ts";
import { createConsoleApp, type ConsoleCore } from "./app.ts";
import { createConsoleAuth, type ConsoleAuth } from "./auth/index.ts";
import { AuditFollower } from "./follow.ts";
import { LiveHub } from "./live.ts";
import { isLoopbackHostHeader } from "./security.ts";


/**
 * The console on `belay serve`'s port, under /console/: a Hono app adapted to node's
 * (req, res). Live updates come from the audit stream: this process's events at once
 * (onEvents, which serve feeds from Core.subscribe), other replicas' from the audit table
 * (AuditFollower); stopping the server ends every event stream.
 */
export async function createConsoleIntegration(
  core: ConsoleCore,
  opts: { auth?: ConsoleAuth; heartbeatMs?: number; clock?: () => Date; followMs?: number } = {},
): Promise<Integration & { live: LiveHub; auth: ConsoleAuth }> {
  const clock = opts.clock ?? (() => new Date());
  const auth = opts.auth ?? (await createConsoleAuth(core.config, { people: core.config.people, logger: core.logger, now: () => clock().getTime() }));
  const live = new LiveHub(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs });
  const follower = new AuditFollower(core.db, live, { logger: core.logger, ...(opts.followMs ? { pollMs: opts.followMs } : {}) });
  const app = createConsoleApp({ core, auth, live, clock });
  // overrideGlobalObjects: false: the adapter must not swap the process's global Request/Response (Bolt and fetch use them).
  const listener = getRequestListener(app.fetch, {
    overrideGlobalObjects: false,
    errorHandler: (err) => {
      core.logger.error({ err }, "console: the request could not be answered");
      return new Response("internal error; see belay's log\n", { status: 500, headers: { "content-type": "text/plain; charset=utf-8" } });
    },
  });
  const handler: Handler = (req, res) => listener(req, res);
  return {
    name: "console",
    routes: [
      { method: "GET", path: "/console", prefix: true, handler },
      { method: "POST", path: "/console", prefix: true, handler },
    ],
    status: auth.enabled
      ? "on at /console/ (OpenID Connect sign-in)"
      : core.config.console.publicOrigin && !isLoopbackHostHeader(new URL(core.config.console.publicOrigin).host)
        ? `off: BELAY_PUBLIC_URL is ${core.config.console.publicOrigin} and sign-in is not configured, so the console answers no one (set BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID and BELAY_OIDC_CLIENT_SECRET)`
        : "read-only at /console/, loopback only (set BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET and BELAY_PUBLIC_URL to sign in and decide)",
    onEvents: (events) => live.publish(follower.claim(events)),
    start: async () => follower.start(),
    stop: async () => {
      follower.stop();
      live.close();
    },
    live,
    auth,
  };
}
