import { BelayError } from "../errors.ts";
import type { People } from "./people.ts";

/** Where a decision came from. */
export type Surface = "slack" | "cli" | "console" | "engine" | "alertmanager" | "pagerduty" | "drill" | (string & {});

/** How the person was established: never from what a request says about itself. */
export type Authentication =
  /** A request signed with the app's signing secret, from the installed team (checked against auth.test). */
  | { method: "slack"; userId: string; teamId: string; enterpriseId: string | null }
  /** The console's OIDC session: the provider's issuer and the person's subject there. */
  | { method: "oidc"; issuer: string; subject: string }
  /** The terminal's OS login, as os.userInfo() reports it, and the host it ran on. */
  | { method: "os"; login: string; host: string }
  /** belay itself (incident resolution, drills), on no person's authority. */
  | { method: "engine" };

/** Acting for someone else: configured, reasoned, audited, announced, worth at most one approval. */
export interface BreakGlass {
  /** The person who actually authenticated (the OS login's person). */
  by: string;
  login: string;
  host: string;
  reason: string;
}

declare const principalBrand: unique symbol;

/**
 * Someone acting on belay, as established by a surface. Only the constructors here make
 * one, so the policy can never be handed a bare name.
 */
export interface Principal {
  readonly [principalBrand]: true;
  /** Canonical person id (through `people:`), on whose authority the decision is made. */
  readonly person: string;
  readonly surface: Surface;
  readonly auth: Authentication;
  /** Groups belay resolved itself (Slack user groups); config groups are looked up by the policy. */
  readonly groups: readonly string[];
  /** What the request said about itself (a Slack user name, `--as`): kept for the audit, never authority. */
  readonly asserted: Readonly<Record<string, string>>;
  readonly breakGlass: BreakGlass | null;
}

/** The person whose authentication made this decision: the break-glass operator, or the person. */
export function authenticatedPerson(p: Principal): string {
  return p.breakGlass?.by ?? p.person;
}

function make(p: Omit<Principal, typeof principalBrand>): Principal {
  return Object.freeze({ ...p, groups: Object.freeze([...p.groups]), asserted: Object.freeze({ ...p.asserted }) }) as Principal;
}

/** A signed Slack request from the installed team (the surface has checked both). */
export function principalFromSlack(
  people: People,
  req: { userId: string; teamId: string; enterpriseId?: string | null; groups?: readonly string[]; userName?: string },
): Principal {
  return make({
    person: people.fromSlack(req.userId),
    surface: "slack",
    auth: { method: "slack", userId: req.userId, teamId: req.teamId, enterpriseId: req.enterpriseId ?? null },
    groups: req.groups ?? [],
    asserted: req.userName ? { userName: req.userName } : {},
    breakGlass: null,
  });
}

export interface TerminalLogin {
  login: string;
  host: string;
}

/** Who may break glass (from `approval.breakGlass`). */
export interface BreakGlassRule {
  allowed: boolean | readonly string[];
}

/**
 * The terminal's person: the OS login through `people`. `as` (acting for someone else) is
 * break-glass: refused unless the config allows this login to, and only with a reason.
 */
export function principalFromTerminal(
  people: People,
  login: TerminalLogin,
  opts: { as?: string | undefined; reason?: string | undefined; breakGlass: BreakGlassRule; groups?: readonly string[] },
): Principal {
  const self = people.fromLogin(login.login);
  const auth: Authentication = { method: "os", login: login.login, host: login.host };
  // Groups are only ever ones belay resolved itself (the person's Slack user groups), never the caller's word.
  const groups = opts.groups ?? [];
  if (opts.as === undefined || opts.as === "" || people.resolveReference(opts.as) === self) {
    return make({ person: self, surface: "cli", auth, groups, asserted: {}, breakGlass: null });
  }
  // Off entirely: say so before anything else. Otherwise whether this login may is the
  // policy's call (breakGlassRefusal), so a refused attempt is audited with the run.
  if (opts.breakGlass.allowed === false) {
    throw new BelayError(
      "identity.refused",
      `--as ${opts.as}: acting for someone else is break-glass, and it is off here (approval.breakGlass.allowed in BELAY_CONFIG); decide as yourself (${self}), or ask ${opts.as} to`,
    );
  }
  const reason = opts.reason?.trim();
  if (!reason) throw new BelayError("identity.refused", `--as ${opts.as} is break-glass: give --reason "why ${opts.as} cannot decide themselves"; it is audited and announced in the incident thread`);
  const person = people.resolveReference(opts.as);
  if (!person) throw new BelayError("identity.refused", `--as ${opts.as}: no such person in people: (BELAY_CONFIG); name a canonical id${people.ids().length ? ` (${people.ids().join(", ")})` : ""}, a mapped login or a Slack user id`);
  return make({ person, surface: "cli", auth, groups, asserted: { as: opts.as }, breakGlass: { by: self, login: login.login, host: login.host, reason } });
}

/** What the console's OpenID provider said about the person signing in (from a verified ID token). */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  email?: string | undefined;
  /** The provider's email_verified claim: only a verified email maps a person. */
  emailVerified?: boolean | undefined;
  name?: string | undefined;
}

/**
 * The console's person: the identity map by OIDC subject first, then by email, and by email
 * only when the provider says it verified it (anyone can claim an unverified address). Null:
 * nobody in `people:`, so the session may look but not decide.
 */
export function principalFromOidc(people: People, id: OidcIdentity): Principal | null {
  const person = people.fromOidc(id.issuer, id.subject) ?? (id.email && id.emailVerified === true ? people.fromEmail(id.email) : null);
  if (person === null) return null;
  const asserted: Record<string, string> = {};
  if (id.email) asserted.email = id.email;
  if (id.name) asserted.name = id.name;
  return make({ person, surface: "console", auth: { method: "oidc", issuer: id.issuer, subject: id.subject }, groups: [], asserted, breakGlass: null });
}

/** belay acting on its own (an incident's alerts resolved, a drill's safety stop). */
export function systemPrincipal(surface: Surface): Principal {
  return make({ person: "belay", surface, auth: { method: "engine" }, groups: [], asserted: {}, breakGlass: null });
}

/** What the audit trail keeps about a principal, beside `actor` (the person) and `surface`. */
export function principalAudit(p: Principal): Record<string, unknown> {
  return {
    auth: p.auth,
    ...(Object.keys(p.asserted).length ? { asserted: p.asserted } : {}),
    ...(p.breakGlass ? { breakGlass: p.breakGlass } : {}),
  };
}
