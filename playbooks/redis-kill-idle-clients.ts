import { playbook, target, z } from "../src/sdk/index.ts";

interface Listed {
  readonly total: number;
  readonly clients: readonly { readonly idleSec: number; readonly ip: string; readonly user: string; readonly name: string }[];
}
interface Filter {
  readonly idleSeconds: number;
  readonly ip?: string | undefined;
  readonly user?: string | undefined;
  readonly name?: string | undefined;
}

/**
 * How many clients the kill would close, from CLIENT LIST's longest-idle clients (at most 50
 * are listed, longest idle first); null when the list cannot tell (more clients than listed,
 * all of them idle long enough, none matching the filter).
 */
export function idleMatches(who: Listed, f: Filter): number | null {
  const hit = who.clients.filter(
    (c) => c.idleSec >= f.idleSeconds && (f.ip === undefined || c.ip === f.ip) && (f.user === undefined || c.user === f.user) && (f.name === undefined || c.name === f.name),
  ).length;
  if (hit > 0 || who.clients.length >= who.total) return hit;
  // Clients beyond the list are idle no longer than the last one listed.
  const last = who.clients[who.clients.length - 1];
  return last === undefined || last.idleSec < f.idleSeconds ? 0 : null;
}

const filterText = (f: Filter) => [f.ip && ` from ${f.ip}`, f.user && ` as user ${f.user}`, f.name && ` named ${f.name}`].filter(Boolean).join("");

/** Redis near maxclients because of leaked idle connections: summarise who holds them, then close the idle ones. */
export default playbook({
  id: "redis-kill-idle-clients",
  title: "Redis near maxclients: close idle clients",
  summary: "Summarises CLIENT LIST by address, name, command and idle time, then closes the clients idle longer than a threshold (optionally from one address or user), exactly those the preview listed.",
  failureModes: ["redis-connections"],
  symptoms: [
    "New connections refused: 'ERR max number of clients reached'",
    "connected_clients near maxclients, many clients idle for hours",
    "RedisTooManyConnections / RedisRejectedConnections firing",
  ],
  match: [
    { alertname: /^Redis(TooManyConnections|RejectedConnections|ConnectionsHigh)$/ },
    { text: /max(imum)? number of clients reached|maxclients|too many (redis )?connections/i },
  ],
  params: z.object({
    redis: target("redis"),
    idleSeconds: z.number().int().min(1).default(600),
    /** Verify holds once connected_clients is below this share of maxclients (the published RedisTooManyConnections fires above 0.9). */
    belowRatio: z.number().gt(0).max(1).default(0.9).describe("verify holds once connected_clients is below this share of maxclients"),
    ip: z.string().optional(),
    user: z.string().optional(),
    name: z.string().optional(),
    max: z.number().int().min(1).max(10_000).default(1000),
  }),
})
  .diagnose("clients", {
    description: "connected_clients vs maxclients, rejected connections.",
    manual: ["redis-cli INFO clients", "redis-cli CONFIG GET maxclients"],
    run: ({ params, targets }) => targets.redis(params.redis).clientsInfo(),
  })
  .diagnose("who", {
    description: "CLIENT LIST summarised: which addresses and names hold the connections, and how idle they are.",
    manual: ["redis-cli CLIENT LIST | awk '{print $2, $5, $6}' | sort | uniq -c | sort -rn | head"],
    run: ({ params, targets }) => targets.redis(params.redis).clientList(),
  })
  .act("kill-idle", {
    description: "CLIENT KILL ID for each client idle past the threshold (never belay's own connection).",
    risk: "medium",
    when: {
      if: ({ params, outputs }) => idleMatches(outputs.who, params) !== 0,
      reason: ({ params, outputs }) =>
        `no client${filterText(params)} has been idle for ${params.idleSeconds} s or more (${outputs.clients.connected}/${outputs.clients.maxclients} connected; the longest idle ${outputs.who.clients[0]?.idleSec ?? 0} s)`,
    },
    permissions: ["redis:CLIENT"],
    locks: ({ params }) => [`redis:${params.redis}/clients`],
    manual: [
      "redis-cli CLIENT LIST | awk '{split($5,a,\"=\"); split($1,b,\"=\"); if (a[2] >= {idleSeconds}) print b[2]}' | xargs -n1 redis-cli CLIENT KILL ID",
    ],
    preview: async ({ params, targets }) => {
      const c = await targets.redis(params.redis).clientKill(
        { idleAtLeastSec: params.idleSeconds, ip: params.ip, user: params.user, name: params.name, max: params.max },
        { dryRun: true },
      );
      return { summary: c.summary, diff: c.diff, data: { ids: c.clients.map((x) => x.id) } };
    },
    // Only the clients the preview listed, and only if they are still idle past the threshold.
    run: ({ params, targets, previewData }) =>
      targets.redis(params.redis).clientKill({
        ids: (previewData as { ids: string[] }).ids,
        idleAtLeastSec: params.idleSeconds,
        ip: params.ip,
        user: params.user,
        name: params.name,
        max: params.max,
      }),
    // The symptom, not only the kill: the closed clients are gone and connections are below the threshold.
    verify: async ({ params, targets, result }) => {
      const r = targets.redis(params.redis);
      const ids = new Set(result.clients.map((c) => c.id));
      const left = (await r.findClients({ ids: [...ids] })).length;
      const now = await r.clientsInfo();
      const limit = Math.floor(now.maxclients * params.belowRatio);
      const below = now.connected < limit;
      return {
        ok: left === 0 && below,
        detail: `${result.killed} closed, ${left} still connected; ${now.connected}/${now.maxclients} clients connected (${below ? "below" : "still at or above"} ${Math.round(params.belowRatio * 100)}% of maxclients)`,
      };
    },
    irreversible: "a closed connection cannot be reopened by belay; well-behaved clients reconnect on their own",
  })
  .notify("follow-up", {
    message: ({ params, outputs }) =>
      `Closed idle clients on ${params.redis} (${outputs.clients.connected}/${outputs.clients.maxclients} before; top holder ${outputs.who.byIp[0]?.ip ?? "?"}). Set 'timeout' in redis.conf and fix the client's pool so it stops leaking.`,
  });
