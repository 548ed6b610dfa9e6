import { alertExpressionNow, playbook, target, z } from "../src/sdk/index.ts";

/**
 * Redis at maxmemory with a no-eviction policy refuses writes ("OOM command not allowed").
 * For a cache, evicting the least recently used keys is the right behaviour: switch the
 * policy. The rollback restores the old policy.
 */
export default playbook({
  id: "redis-maxmemory-policy",
  title: "Redis at maxmemory: evict instead of refusing writes",
  summary: "Reads memory use, maxmemory and the eviction policy, shows the biggest keys, then sets maxmemory-policy to allkeys-lru (or the policy given); rollback restores the old one.",
  failureModes: ["redis-maxmemory"],
  symptoms: [
    "Writes fail with 'OOM command not allowed when used memory > maxmemory'",
    "used_memory at maxmemory, maxmemory-policy noeviction",
    "RedisOutOfConfiguredMaxmemory / RedisOutOfMemory firing",
  ],
  match: [
    { alertname: /^Redis(OutOfConfiguredMaxmemory|OutOfMemory|MemoryHigh)$/ },
    { text: /OOM command not allowed|maxmemory/i },
  ],
  params: z.object({
    redis: target("redis"),
    policy: z.enum(["allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "allkeys-random", "volatile-ttl"]).default("allkeys-lru"),
    /** The alert's PromQL (from its generatorURL): verify reads it back from Prometheus and says whether it still holds. */
    expr: z.string().optional(),
  }),
  fromAlert: (a) => (a.expr ? { expr: a.expr } : {}),
})
  .diagnose("memory", {
    description: "used_memory vs maxmemory, eviction policy, evicted keys.",
    manual: ["redis-cli INFO memory", "redis-cli CONFIG GET maxmemory-policy"],
    run: ({ params, targets }) => targets.redis(params.redis).memoryInfo(),
  })
  .diagnose("big-keys", {
    description: "The largest keys (SCAN + MEMORY USAGE, 2 s budget): is one key eating the memory?",
    manual: ["redis-cli --bigkeys -i 0.01"],
    run: ({ params, targets }) => targets.redis(params.redis).bigKeys({ budgetMs: 2_000, top: 10 }),
  })
  .act("set-policy", {
    description: "CONFIG SET maxmemory-policy: Redis evicts keys instead of refusing writes.",
    risk: "medium",
    permissions: ["redis:CONFIG"],
    when: ({ outputs, params }) => outputs.memory.policy !== params.policy,
    locks: ({ params }) => [`redis:${params.redis}/config/maxmemory-policy`],
    manual: ["redis-cli CONFIG SET maxmemory-policy {policy}"],
    preview: async ({ params, targets }) => {
      const c = await targets.redis(params.redis).configSet("maxmemory-policy", params.policy, { dryRun: true });
      return { summary: c.summary, diff: c.diff, data: { previous: c.previous } };
    },
    run: ({ params, targets }) => targets.redis(params.redis).configSet("maxmemory-policy", params.policy),
    verify: async ({ params, targets, signal }) => {
      const m = await targets.redis(params.redis).memoryInfo();
      // Under an evicting policy memory stays near maxmemory: the alert may keep firing, and the detail says so.
      const alert = await alertExpressionNow(targets, params.expr, signal);
      return { ok: m.policy === params.policy, detail: `maxmemory-policy ${m.policy}${alert.detail ? `; ${alert.detail}` : ""}` };
    },
    rollback: ({ params, targets, result }) => targets.redis(params.redis).configSet("maxmemory-policy", result.previous ?? "noeviction"),
  })
  .notify("follow-up", {
    message: ({ params, outputs }) =>
      `maxmemory-policy ${outputs.memory.policy} -> ${params.policy} on ${params.redis}. Persist it in redis.conf / the chart, or CONFIG REWRITE, and size maxmemory for the working set.`,
  });
