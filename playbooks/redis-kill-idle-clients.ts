import { playbook, target, z } from "../src/sdk/index.ts";

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
    verify: async ({ params, targets, result }) => {
      const left = await targets.redis(params.redis).findClients({ ids: result.clients.map((c) => c.id) });
      return { ok: left.length === 0, detail: `${result.killed} closed, ${left.length} still connected` };
    },
    irreversible: "a closed connection cannot be reopened by belay; well-behaved clients reconnect on their own",
  })
  .notify("follow-up", {
    message: ({ params, outputs }) =>
      `Closed idle clients on ${params.redis} (${outputs.clients.connected}/${outputs.clients.maxclients} before; top holder ${outputs.who.byIp[0]?.ip ?? "?"}). Set 'timeout' in redis.conf and fix the client's pool so it stops leaking.`,
  });
