import type { Context, Hono } from "hono";
import type { Principal } from "../../identity/principal.ts";

/** A signed-in person, read from the console's session cookie. */
export interface ConsoleSession {
  /**
   * The person, through the identity map; console decisions carry surface `console`, auth `oidc`.
   * Null: signed in, but nobody in `people:` has this identity, so the session may look and
   * not decide (checkStateChange refuses, saying what to add to BELAY_CONFIG).
   */
  principal: Principal | null;
  /** The provider's subject (`sub`), set by the OIDC sign-in: what to add as `oidc:` to map an unmapped person. */
  subject?: string;
  /** What the page shows as who is signed in (name or email from the provider). */
  displayName: string;
  /** The CSRF token every state-changing form carries as `_csrf`. */
  csrf: string;
  /** When the session ends (ms since the epoch). */
  expiresAt: number;
}

/**
 * The console's sign-in, as the pages see it. The console app (src/console/app.ts) holds no
 * knowledge of OIDC: it asks this for the session and for a verdict on each state change.
 */
export interface ConsoleAuth {
  /** OIDC is configured: people can sign in, and signed-in people can decide. */
  readonly enabled: boolean;
  /** Mounts GET /console/auth/login, GET /console/auth/callback and POST /console/auth/logout on the app. */
  mount(app: Hono): void;
  /** The session the request's cookie carries, or undefined (none, expired, forged, or OIDC off). */
  session(c: Context): Promise<ConsoleSession | undefined>;
  /**
   * A state-changing request from this session: null when allowed, else why it is refused
   * (CSRF token `formToken` missing or wrong, the request is cross-site by Origin / Sec-Fetch-Site,
   * or the person is not in `people:`). Answer 403 with it.
   */
  checkStateChange(c: Context, session: ConsoleSession, formToken: string | undefined): string | null;
  /** Where the sign-in link points, returning to `returnTo` (a /console/ path) afterwards. */
  loginUrl(returnTo: string): string;
}
