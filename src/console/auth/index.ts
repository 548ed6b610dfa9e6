import type { Config } from "../../config.ts";
import type { Logger } from "../../execute/deps.ts";
import type { People } from "../../identity/people.ts";
import type { ConsoleAuth } from "./types.ts";

export type { ConsoleAuth, ConsoleSession } from "./types.ts";

/**
 * The console's sign-in for this config. Without OIDC configured it is off: no sessions, so
 * the console is read-only (and answers only loopback, which the app enforces).
 */
export async function createConsoleAuth(_config: Config, _deps: { people: People; logger: Logger; now: () => number }): Promise<ConsoleAuth> {
  return {
    enabled: false,
    mount: () => {},
    session: async () => undefined,
    checkStateChange: () => "sign-in is not configured (set BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET and BELAY_PUBLIC_URL)",
    loginUrl: () => "/console/",
  };
}
