import { alertExpressionNow, playbook, target, z } from "../src/sdk/index.ts";

/** OOM error replies so far, from INFO errorstats (`errorstat_OOM: count=N`); 0 when none was ever sent. */
function oomReplies(info: Record<string, Record<string, string>>): number {
  const m = /count=(\d+)/.exec(info.errorstats?.errorstat_OOM ?? "");
  return m ? Number(m[1]) : 0;
}

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
    /** How long verify watches for writes refused with OOM after the change. */
    verifyWatchMs: z.number().int().min(0).max(20_000).default(3_000).describe("how long verify watches for writes refused with OOM after the change (ms)"),
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
    when: [
      {
        // The published RedisOutOfConfiguredMaxmemory divides by maxmemory: with no limit it fires on every Redis.
        if: ({ outputs }) => outputs.memory.maxmemoryBytes > 0,
        reason: "maxmemory is 0 (no limit): this Redis never refuses writes for memory and no eviction policy applies; an alert dividing used memory by maxmemory fires falsely here",
      },
      { if: ({ outputs, params }) => outputs.memory.policy !== params.policy, reason: ({ params }) => `maxmemory-policy is already ${params.policy}` },
    ],
    locks: ({ params }) => [`redis:${params.redis}/config/maxmemory-policy`],
    manual: ["redis-cli CONFIG SET maxmemory-policy {policy}"],
    preview: async ({ params, targets }) => {
      const c = await targets.redis(params.redis).configSet("maxmemory-policy", params.policy, { dryRun: true });
      return { summary: c.summary, diff: c.diff, data: { previous: c.previous } };
    },
    run: ({ params, targets }) => targets.redis(params.redis).configSet("maxmemory-policy", params.policy),
    // The symptom, not only the setting: no write is refused for memory while verify watches
    // (INFO errorstats counts OOM replies; read-only, so no probe write is needed).
    verifyTimeoutMs: 30_000,
    verify: async ({ params, targets, signal }) => {
      const r = targets.redis(params.redis);
      const before = await r.memoryInfo();
      if (before.policy !== params.policy) return { ok: false, detail: `maxmemory-policy is ${before.policy}, not ${params.policy}` };
      const oomBefore = oomReplies(await r.info("errorstats"));
      await new Promise((done) => setTimeout(done, params.verifyWatchMs));
      const oomAfter = oomReplies(await r.info("errorstats"));
      const after = await r.memoryInfo();
      const used = after.usedRatio === null ? "no maxmemory" : `used ${Math.round(after.usedRatio * 100)}% of maxmemory`;
      const refused = oomAfter - oomBefore;
      // Under an evicting policy memory stays near maxmemory: the alert may keep firing, and the detail says so.
      const alert = await alertExpressionNow(targets, params.expr, signal);
      const firing = alert.detail ? `; ${alert.detail}` : "";
      return refused === 0
        ? { ok: true, detail: `maxmemory-policy ${after.policy}; no write refused for memory in ${params.verifyWatchMs / 1000} s; ${used}, ${after.evictedKeys - before.evictedKeys} keys evicted${firing}` }
        : { ok: false, detail: `maxmemory-policy ${after.policy}, but ${refused} writes were refused with OOM in ${params.verifyWatchMs / 1000} s (${used}): the policy frees nothing here (a volatile-* policy needs keys with a TTL)${firing}` };
    },
    rollback: ({ params, targets, result }) => targets.redis(params.redis).configSet("maxmemory-policy", result.previous ?? "noeviction"),
  })
  .notify("follow-up", {
    message: ({ params, outputs }) =>
      `maxmemory-policy ${outputs.memory.policy} -> ${params.policy} on ${params.redis}. Persist it in redis.conf / the chart, or CONFIG REWRITE, and size maxmemory for the working set.`,
  });
