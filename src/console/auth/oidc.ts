import { createHash, randomBytes } from "node:crypto";
import type { Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import * as oidc from "openid-client";
import { z } from "zod";
import type { Logger } from "../../execute/deps.ts";
import type { People } from "../../identity/people.ts";
import { principalFromOidc } from "../../identity/principal.ts";
import { redactText } from "../../sinks.ts";
import { crossSiteReason, safeReturnPath, sameToken } from "./guard.ts";
import { SIGN_IN_PAGE_CSP, signInErrorPage } from "./pages.ts";
import { createSealer } from "./seal.ts";
import type { ConsoleAuth, ConsoleSession } from "./types.ts";

export const SESSION_COOKIE = "belay_session";
/** One sign-in cookie per sign-in in progress (`belay_login_<tag of its state>`), so two tabs signing in do not overwrite each other. */
export const LOGIN_COOKIE = "belay_login";
const loginCookieName = (state: string) => `${LOGIN_COOKIE}_${createHash("sha256").update(state).digest("base64url").slice(0, 16)}`;
export const LOGIN_PATH = "/console/auth/login";
export const CALLBACK_PATH = "/console/auth/callback";
export const LOGOUT_PATH = "/console/auth/logout";
/** A sign-in must come back from the provider within this long. */
const LOGIN_TTL_SECONDS = 600;

export interface OidcAuthOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** BELAY_PUBLIC_URL's origin: the redirect URI's and the only origin state changes may come from. */
  publicOrigin: string;
  sessionKey: Buffer;
  sessionHours: number;
  people: People;
  logger: Logger;
  now: () => number;
}

/** What the session cookie holds (sealed): who the provider said, the CSRF token, the expiry. Never a token. */
const sessionSchema = z.object({
  iss: z.string(),
  sub: z.string(),
  email: z.string().optional(),
  ev: z.boolean().optional(),
  name: z.string().optional(),
  csrf: z.string().min(32),
  exp: z.number(),
});
/** A sign-in in progress: the checks the callback must see again. */
const pendingSchema = z.object({ state: z.string(), nonce: z.string(), verifier: z.string(), returnTo: z.string(), exp: z.number() });

/**
 * Sign-in with OpenID Connect: authorization code with PKCE, state and nonce in a short-lived
 * sealed cookie, the session in another (HttpOnly, SameSite=Lax, Secure over https, Path
 * /console), its expiry checked here and not left to the browser. No token is kept: the
 * session needs only who the person is.
 */
export function createOidcAuth(o: OidcAuthOptions): ConsoleAuth {
  const sealer = createSealer(o.sessionKey);
  const secure = o.publicOrigin.startsWith("https:");
  const redirectUri = `${o.publicOrigin}${CALLBACK_PATH}`;
  const sessionCookie = { path: "/console", httpOnly: true, secure, sameSite: "Lax" } as const;
  const loginCookie = { path: "/console/auth", httpOnly: true, secure, sameSite: "Lax" } as const;

  // Discovered on first use, not at start: a provider that is down must not stop belay serving.
  let discovered: Promise<oidc.Configuration> | null = null;
  const provider = (): Promise<oidc.Configuration> => {
    if (!discovered) {
      const url = new URL(o.issuer);
      // config.ts allows http:// only for a loopback issuer (tests).
      const options = url.protocol === "http:" ? { execute: [oidc.allowInsecureRequests] } : undefined;
      const p = oidc.discovery(url, o.clientId, undefined, oidc.ClientSecretBasic(o.clientSecret), options);
      discovered = p;
      p.catch(() => {
        if (discovered === p) discovered = null;
      });
    }
    return discovered;
  };

  const page = (c: Context, status: 400 | 401 | 403 | 502, title: string, detail: string) => {
    c.header("Content-Security-Policy", SIGN_IN_PAGE_CSP);
    c.header("Cache-Control", "no-store");
    return c.html(signInErrorPage(title, detail, LOGIN_PATH), status);
  };
  const failure = (err: unknown): string => {
    const e = err as { code?: unknown; error?: unknown; message?: unknown };
    return redactText(String(e.error ?? e.code ?? e.message ?? err)).slice(0, 200);
  };

  const session = async (c: Context): Promise<ConsoleSession | undefined> => {
    const opened = sessionSchema.safeParse(sealer.open(SESSION_COOKIE, getCookie(c, SESSION_COOKIE)));
    if (!opened.success || opened.data.exp <= o.now()) return undefined;
    const s = opened.data;
    // Signed in by the provider configured now, not one this belay (or another sharing the key) trusted before.
    if (s.iss.replace(/\/+$/, "") !== o.issuer.replace(/\/+$/, "")) return undefined;
    return {
      principal: principalFromOidc(o.people, { issuer: s.iss, subject: s.sub, email: s.email, emailVerified: s.ev, name: s.name }),
      displayName: s.name ?? s.email ?? s.sub,
      subject: s.sub,
      csrf: s.csrf,
      expiresAt: s.exp,
    };
  };

  /** Same origin and the session's CSRF token: what every state change needs, logout included. */
  const checkRequest = (c: Context, s: ConsoleSession, formToken: string | undefined): string | null =>
    crossSiteReason(c, o.publicOrigin) ?? (sameToken(formToken, s.csrf) ? null : "the form's CSRF token is missing or does not match this session; reload the page and try again");

  return {
    enabled: true,
    session,
    checkStateChange(c, s, formToken) {
      const why = checkRequest(c, s, formToken);
      if (why) return why;
      if (!s.principal) return `not mapped: add oidc: ${s.subject ?? "<your subject>"} to your entry in people: in BELAY_CONFIG, then sign in again`;
      return null;
    },
    loginUrl: (returnTo) => `${LOGIN_PATH}?return=${encodeURIComponent(safeReturnPath(returnTo))}`,

    mount(app: Hono) {
      app.get(LOGIN_PATH, async (c) => {
        const returnTo = safeReturnPath(c.req.query("return"));
        let config: oidc.Configuration;
        try {
          config = await provider();
        } catch (err) {
          o.logger.warn({ issuer: o.issuer, reason: failure(err) }, "console sign-in: the OpenID provider's discovery failed");
          return page(c, 502, "Sign-in is unavailable", `The sign-in provider at ${o.issuer} did not answer its discovery request (${failure(err)}); try again shortly, or tell whoever runs belay.`);
        }
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        const exp = o.now() + LOGIN_TTL_SECONDS * 1000;
        // Sealed under the shared name: a sign-in cookie opens only as one, whatever it is called.
        setCookie(c, loginCookieName(state), sealer.seal(LOGIN_COOKIE, { state, nonce, verifier, returnTo, exp }), { ...loginCookie, maxAge: LOGIN_TTL_SECONDS });
        const url = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: "openid email profile",
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: "S256",
          state,
          nonce,
        });
        c.header("Cache-Control", "no-store");
        return c.redirect(url.href, 302);
      });

      app.get(CALLBACK_PATH, async (c) => {
        // The URL carries the code: keep it out of caches and of the next page's Referer.
        c.header("Referrer-Policy", "no-referrer");
        const queryState = c.req.query("state");
        const cookieName = queryState && queryState.length <= 512 ? loginCookieName(queryState) : null;
        const pending = pendingSchema.safeParse(cookieName ? sealer.open(LOGIN_COOKIE, getCookie(c, cookieName)) : null);
        if (!pending.success || pending.data.exp <= o.now()) {
          return page(c, 400, "This sign-in has expired", "It took longer than 10 minutes, or it was started in another browser. Sign in again.");
        }
        const p = pending.data;
        // Nothing from the query is shown before its state matches this browser's sign-in.
        if (!sameToken(queryState, p.state)) {
          return page(c, 400, "This sign-in does not belong to this browser", "The provider's answer is for a sign-in this browser did not start. Sign in again.");
        }
        deleteCookie(c, cookieName!, loginCookie);
        const error = c.req.query("error");
        if (error !== undefined) {
          const desc = c.req.query("error_description");
          o.logger.info({ error: redactText(error).slice(0, 100) }, "console sign-in: the provider refused");
          return page(c, 403, "The sign-in provider refused", `${error.slice(0, 100)}${desc ? `: ${desc.slice(0, 300)}` : ""}`);
        }
        let config: oidc.Configuration;
        let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
        try {
          config = await provider();
          const current = new URL(`${redirectUri}${new URL(c.req.url).search}`);
          tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce, idTokenExpected: true });
        } catch (err) {
          o.logger.warn({ reason: failure(err) }, "console sign-in: the code exchange failed");
          return page(c, 502, "Sign-in failed", `The provider's answer could not be verified (${failure(err)}). Sign in again; if it keeps failing, tell whoever runs belay.`);
        }
        const claims = tokens.claims()!;
        let { email, email_verified: emailVerified, name } = claims as { email?: unknown; email_verified?: unknown; name?: unknown };
        // Many providers put only `sub` in the ID token; the rest is at the userinfo endpoint.
        if (email === undefined && config.serverMetadata().userinfo_endpoint) {
          try {
            const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
            ({ email, email_verified: emailVerified, name } = { email, email_verified: emailVerified, name, ...info });
          } catch (err) {
            o.logger.warn({ reason: failure(err) }, "console sign-in: userinfo failed; mapping by subject only");
          }
        }
        const s = {
          iss: claims.iss,
          sub: claims.sub,
          ...(typeof email === "string" ? { email } : {}),
          ...(typeof emailVerified === "boolean" ? { ev: emailVerified } : {}),
          ...(typeof name === "string" ? { name } : {}),
          csrf: randomBytes(32).toString("base64url"),
          exp: o.now() + o.sessionHours * 3_600_000,
        };
        setCookie(c, SESSION_COOKIE, sealer.seal(SESSION_COOKIE, s), { ...sessionCookie, maxAge: Math.floor(o.sessionHours * 3600) });
        const principal = principalFromOidc(o.people, { issuer: s.iss, subject: s.sub, email: s.email, emailVerified: s.ev, name: s.name });
        o.logger.info({ person: principal?.person ?? null, subject: s.sub }, principal ? "console sign-in" : "console sign-in by someone not in people: (read-only)");
        c.header("Cache-Control", "no-store");
        return c.redirect(p.returnTo, 303);
      });

      app.post(LOGOUT_PATH, async (c) => {
        const s = await session(c);
        if (!s) {
          deleteCookie(c, SESSION_COOKIE, sessionCookie);
          return page(c, 401, "You are not signed in", "There is no session to sign out of.");
        }
        const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
        const token = typeof form._csrf === "string" ? form._csrf : undefined;
        const why = checkRequest(c, s, token);
        if (why) return page(c, 403, "Sign-out refused", why);
        deleteCookie(c, SESSION_COOKIE, sessionCookie);
        return c.redirect("/console/", 303);
      });
    },
  };
}
