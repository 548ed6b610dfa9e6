import { z } from "zod";

/**
 * The identity map (`people:` in BELAY_CONFIG): one canonical id per person, tying together
 * the identities each surface sees. Requester-versus-approver and "distinct approvers" are
 * decided on canonical ids, so Alice at a terminal and Alice in Slack are one person.
 *
 * Identities nobody mapped still work, namespaced so they can never collide with a mapped
 * person: a Slack user is its user id (`U024BE7LH`), a terminal login is `os:<login>`.
 */
export const personSchema = z.strictObject({
  /** Slack user id (U... or W...). */
  slack: z.string().regex(/^[UW][A-Z0-9]{2,}$/, "must be a Slack user id like U024BE7LH").optional(),
  email: z.string().email().optional(),
  /** Terminal login(s), as the OS reports them (`id -un`). */
  login: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** PagerDuty user id (P...). */
  pagerduty: z.string().regex(/^P[A-Z0-9]+$/, "must be a PagerDuty user id like PXPGF42").optional(),
  /**
   * The console's OpenID Connect identity: the provider's `sub` claim, or issuer and subject
   * when the subject alone could be another provider's.
   */
  oidc: z
    .union([
      z.string().min(1, "must be the provider's subject (the sub claim)"),
      z.strictObject({ issuer: z.string().url("must be the provider's issuer URL"), subject: z.string().min(1) }),
    ])
    .optional(),
});

/** Canonical ids are lower-case words: they can never look like a Slack id or an `os:` login. */
export const CANONICAL_ID = /^[a-z][a-z0-9._-]*$/;

export const peopleSchema = z
  .record(
    z
      .string()
      .regex(CANONICAL_ID, "a person's canonical id is lower-case letters, digits, . _ - (e.g. alice)")
      // `belay` is the system actor (incidents, drills, the engine): nobody may be it, or pass for it.
      .refine((id) => !id.startsWith("belay"), "canonical ids starting with belay are reserved (belay is the system actor); call the person something else"),
    personSchema,
  )
  .default({});

export type PeopleConfig = z.infer<typeof peopleSchema>;
export type Person = z.infer<typeof personSchema>;

const SLACK_ID = /^[UW][A-Z0-9]{2,}$/;

function loginsOf(p: Person): string[] {
  return p.login === undefined ? [] : Array.isArray(p.login) ? p.login : [p.login];
}

/**
 * The surface an identity nobody mapped came from: a raw Slack user id is "slack", `os:<login>`
 * is "os". Null for a canonical id (a mapped person) or belay itself.
 */
export function unmappedSurface(id: string): "slack" | "os" | null {
  if (SLACK_ID.test(id)) return "slack";
  if (id.startsWith("os:")) return "os";
  return null;
}

/**
 * Whether belay cannot tell two identities apart: both unmapped, seen on different surfaces
 * (`UALICE01` in Slack and `os:alice` at a terminal may be one person). Two unmapped Slack
 * ids, or two logins, are different people; a mapped person is nobody else.
 */
export function mayBeSamePerson(a: string, b: string): boolean {
  if (a === b) return true;
  const sa = unmappedSurface(a);
  const sb = unmappedSurface(b);
  return sa !== null && sb !== null && sa !== sb;
}

/** One identity claimed by two people: a config error (`where` names both). */
export interface DuplicateIdentity {
  identity: string;
  people: [string, string];
}

/** Issuers compare without a trailing slash (`https://idp/` and `https://idp` are one issuer). */
function oidcKey(issuer: string, subject: string): string {
  return `${issuer.replace(/\/+$/, "")} ${subject}`;
}

/** Looks identities up in the people map. Pure; built once from the config. */
export class People {
  private readonly bySlack = new Map<string, string>();
  private readonly byLogin = new Map<string, string>();
  private readonly byEmail = new Map<string, string>();
  private readonly byPagerDuty = new Map<string, string>();
  /** `subject` (any issuer) or `issuer subject` (that issuer only). */
  private readonly byOidc = new Map<string, string>();
  readonly duplicates: DuplicateIdentity[] = [];

  constructor(readonly map: Readonly<PeopleConfig> = {}) {
    for (const [id, p] of Object.entries(map)) {
      if (p.slack) this.claim(this.bySlack, p.slack, id, `slack ${p.slack}`);
      for (const l of loginsOf(p)) this.claim(this.byLogin, l, id, `login ${l}`);
      if (p.email) this.claim(this.byEmail, p.email.toLowerCase(), id, `email ${p.email}`);
      if (p.pagerduty) this.claim(this.byPagerDuty, p.pagerduty, id, `pagerduty ${p.pagerduty}`);
      if (typeof p.oidc === "string") this.claim(this.byOidc, p.oidc, id, `oidc ${p.oidc}`);
      else if (p.oidc) this.claim(this.byOidc, oidcKey(p.oidc.issuer, p.oidc.subject), id, `oidc ${p.oidc.issuer} ${p.oidc.subject}`);
    }
  }

  private claim(index: Map<string, string>, key: string, id: string, label: string): void {
    const other = index.get(key);
    if (other !== undefined && other !== id) this.duplicates.push({ identity: label, people: [other, id] });
    else index.set(key, id);
  }

  /** The person behind a Slack user id (the id itself when unmapped). */
  fromSlack(userId: string): string {
    return this.bySlack.get(userId) ?? userId;
  }

  /** The person behind a terminal login (`os:<login>` when unmapped). */
  fromLogin(login: string): string {
    return this.byLogin.get(login) ?? `os:${login}`;
  }

  fromEmail(email: string): string | null {
    return this.byEmail.get(email.toLowerCase()) ?? null;
  }

  /** The person with this OIDC identity: issuer and subject mapped together first, then the subject alone. */
  fromOidc(issuer: string, subject: string): string | null {
    return this.byOidc.get(oidcKey(issuer, subject)) ?? this.byOidc.get(subject) ?? null;
  }

  fromPagerDuty(userId: string): string | null {
    return this.byPagerDuty.get(userId) ?? null;
  }

  /** The person's Slack user id, for mentions; null when none is mapped. */
  slackIdOf(person: string): string | null {
    if (SLACK_ID.test(person)) return person;
    return this.map[person]?.slack ?? null;
  }

  /**
   * A person named in the config (approvers, group members, break-glass lists): a canonical
   * id, any identity mapped to one, a raw Slack user id, or `os:<login>`. Null: nobody.
   */
  resolveReference(ref: string): string | null {
    if (Object.hasOwn(this.map, ref)) return ref;
    const mapped = this.bySlack.get(ref) ?? this.byLogin.get(ref) ?? this.byEmail.get(ref.toLowerCase()) ?? this.byPagerDuty.get(ref);
    if (mapped) return mapped;
    if (SLACK_ID.test(ref)) return ref;
    if (ref.startsWith("os:") && ref.length > 3) return this.fromLogin(ref.slice(3));
    return null;
  }

  /** Canonical ids, for "did you mean". */
  ids(): string[] {
    return Object.keys(this.map);
  }
}
