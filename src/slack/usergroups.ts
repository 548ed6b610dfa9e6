import type { Logger } from "../execute/deps.ts";

/** The one Web API call user-group resolution needs. */
export interface UserGroupApi {
  listMembers(usergroup: string): Promise<string[]>;
}

interface Entry {
  members: ReadonlySet<string>;
  fetchedAt: number;
}

/**
 * Which policy groups a Slack user belongs to, through Slack user groups. Policy groups
 * name a user group either directly (its id, `S...`) or through `slack.usergroups` in the
 * config. Memberships are cached for `ttlMs`; when Slack cannot be asked, a stale answer
 * is used, and with none the user is in no group (a click is then refused, never let
 * through on a guess).
 */
export class UserGroups {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<ReadonlySet<string>>>();
  /** Slack user group id -> the policy group names it stands for. */
  private readonly names = new Map<string, string[]>();

  constructor(
    private readonly deps: {
      api: UserGroupApi;
      logger: Logger;
      ttlMs: number;
      /** Group names used in the approval policy. */
      policyGroups: readonly string[];
      /** Policy group name -> user group id, from config. */
      aliases: Readonly<Record<string, string>>;
      now?: () => number;
    },
  ) {
    for (const g of deps.policyGroups) {
      const id = deps.aliases[g] ?? (/^S[A-Z0-9]+$/.test(g) ? g : null);
      if (id) this.names.set(id, [...(this.names.get(id) ?? []), g]);
    }
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** The policy group names this user is in through Slack user groups. */
  async groupsOf(userId: string): Promise<string[]> {
    const out: string[] = [];
    await Promise.all(
      [...this.names.entries()].map(async ([id, names]) => {
        const members = await this.members(id);
        if (members.has(userId)) out.push(...names);
      }),
    );
    return out.sort();
  }

  private async members(id: string): Promise<ReadonlySet<string>> {
    const hit = this.cache.get(id);
    if (hit && this.now() - hit.fetchedAt < this.deps.ttlMs) return hit.members;
    const pending = this.inflight.get(id);
    if (pending) return pending;
    const p = this.deps.api
      .listMembers(id)
      .then((users) => {
        const members = new Set(users);
        this.cache.set(id, { members, fetchedAt: this.now() });
        return members as ReadonlySet<string>;
      })
      .catch((err) => {
        this.deps.logger.warn({ err, usergroup: id }, hit ? "usergroups.users.list failed; using the cached membership" : "usergroups.users.list failed; treating the user group as empty");
        return hit?.members ?? new Set<string>();
      })
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }
}

/** Every group name an approval policy mentions. */
export function policyGroupNames(policy: { risks: Record<string, { groups: readonly string[] }> }): string[] {
  return [...new Set(Object.values(policy.risks).flatMap((r) => r.groups))];
}
