import { randomBytes } from "node:crypto";
import type { Config } from "../../config.ts";
import type { Logger } from "../../execute/deps.ts";
import type { People } from "../../identity/people.ts";
import { createOidcAuth } from "./oidc.ts";
import type { ConsoleAuth } from "./types.ts";

export type { ConsoleAuth, ConsoleSession } from "./types.ts";
export { safeReturnPath } from "./guard.ts";

/**
 * The console's sign-in for this config. Without OIDC configured it is off: no sessions, so
 * the console is read-only (and answers only loopback, which the app enforces).
 */
export async function createConsoleAuth(config: Config, deps: { people: People; logger: Logger; now: () => number }): Promise<ConsoleAuth> {
  const c = config.console;
  if (!c.oidc || !c.publicOrigin) {
    return {
      enabled: false,
        mount: () => {},
      session: async () => undefined,
      checkStateChange: () => "sign-in is not configured (set BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET and BELAY_PUBLIC_URL)",
      loginUrl: () => "/console/",
    };
  }
  let sessionKey = c.sessionKey;
  if (!sessionKey) {
    // config.ts requires a key wherever replicas could share a database; this is one process.
    sessionKey = randomBytes(32);
    deps.logger.warn("BELAY_CONSOLE_SESSION_KEY is not set, so console sessions use a random key of this process: they end when belay restarts and no other replica accepts them");
  }
  return createOidcAuth({ ...c.oidc, publicOrigin: c.publicOrigin, sessionKey, sessionHours: c.sessionHours, people: deps.people, logger: deps.logger, now: deps.now });
}
