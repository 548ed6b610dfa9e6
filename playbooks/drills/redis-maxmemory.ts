import { drill } from "../../src/sdk/index.ts";

/**
 * Live: drives a real Redis into maxmemory with noeviction until writes fail with OOM. Only
 * the drill's own keys are written (TTL 5 minutes, made to look long idle so any LRU policy
 * evicts them first); maxmemory and maxmemory-policy are restored exactly at the end.
 */
export default drill({
  id: "redis-maxmemory",
  title: "Redis at maxmemory refuses writes",
  mode: "live",
  hypothesis:
    "If Redis hits maxmemory with noeviction, writes fail with OOM; belay proposes redis-maxmemory-policy within 60 s, the on-call approves within 5 minutes, and writes succeed again within 10 minutes.",
  target: { kind: "redis", name: "cache" },
  blastRadius: "every writer of this Redis: writes fail with OOM until the policy changes. Run it against staging.",
  alert: ({ target }) => ({
    alertname: "RedisOutOfConfiguredMaxmemory",
    summary: "OOM command not allowed when used memory > 'maxmemory'",
    severity: "critical",
    labels: { redis: target, service: "cache" },
  }),
  expect: { playbook: "redis-maxmemory-policy", proposedWithinS: 60, approvedWithinS: 300, recoveredWithinS: 600 },
  maxDurationS: 900,
})
  .inject("tiny-maxmemory", {
    description: "maxmemory just above what is used now, policy noeviction, then drill keys until a write fails with OOM.",
    preview: async ({ faults, target }) => {
      const r = faults.redis(target);
      const [maxmemory, policy, used] = await Promise.all([r.configGet("maxmemory"), r.configGet("maxmemory-policy"), r.usedMemory()]);
      return `maxmemory ${maxmemory} -> ${used + 256 * 1024} (used + 256 KiB), maxmemory-policy ${policy} -> noeviction; then drill keys (TTL 5 min) until writes fail with OOM`;
    },
    capture: async ({ faults, target }) => {
      const r = faults.redis(target);
      return { maxmemory: (await r.configGet("maxmemory")) ?? "0", policy: (await r.configGet("maxmemory-policy")) ?? "noeviction" };
    },
    run: async ({ faults, target, scratch }) => {
      const r = faults.redis(target);
      await r.configSet("maxmemory-policy", "noeviction");
      await r.configSet("maxmemory", String((await r.usedMemory()) + 256 * 1024));
      const fill = await r.fillUntilOom({ prefix: scratch, valueBytes: 2048, ttlMs: 300_000, maxKeys: 4_000 });
      if (!fill.oom) throw new Error(`writes never failed after ${fill.keys} keys; Redis did not reach maxmemory`);
      return fill;
    },
    undo: async ({ faults, target, scratch, undo }) => {
      const r = faults.redis(target);
      await r.configSet("maxmemory", undo.maxmemory);
      await r.configSet("maxmemory-policy", undo.policy);
      await r.deleteByPrefix(scratch);
    },
  })
  // Recovered when writes keep succeeding under pressure: a few more drill keys are written
  // each time, so memory someone else freed for a moment does not count as a recovery.
  .recovered(async ({ faults, target, scratch }) => {
    const r = await faults.redis(target).fillUntilOom({ prefix: `${scratch}check:${Math.random().toString(36).slice(2, 8)}:`, valueBytes: 2048, ttlMs: 300_000, maxKeys: 32 });
    return { ok: !r.oom, detail: r.oom ? `writes still fail: ${r.error}` : "writes succeed (32 more keys taken)" };
  })
  .abortWhen("redis-unreachable", async ({ faults, target }) => {
    try {
      await faults.redis(target).usedMemory();
      return null;
    } catch (err) {
      return `Redis does not answer: ${(err as Error).message}`;
    }
  });
