import { playbook, target, z } from "../../../src/sdk/index.ts";

/**
 * The browser tests' playbook, against a Redis of the test's own: a medium-risk step (one
 * approval, the requester may give it) and a high-risk one (two people, never the requester).
 */
export default playbook({
  id: "console-demo",
  title: "Cache at maxmemory: evict, then raise the limit",
  summary: "Reads memory, switches the eviction policy to allkeys-lru, then raises maxmemory; each change is rolled back if its verify fails.",
  failureModes: ["redis-maxmemory"],
  params: z.object({ redis: target("redis"), maxmemory: z.string().regex(/^\d+mb$/).default("96mb") }),
})
  .diagnose("memory", {
    description: "used_memory vs maxmemory and the eviction policy.",
    run: ({ params, targets }) => targets.redis(params.redis).memoryInfo(),
  })
  .act("set-policy", {
    description: "CONFIG SET maxmemory-policy allkeys-lru.",
    risk: "medium",
    permissions: ["redis:CONFIG"],
    locks: ({ params }) => [`redis:${params.redis}/config/maxmemory-policy`],
    preview: async ({ params, targets }) => {
      const c = await targets.redis(params.redis).configSet("maxmemory-policy", "allkeys-lru", { dryRun: true });
      return { summary: c.summary, diff: c.diff, data: { previous: c.previous } };
    },
    run: ({ params, targets }) => targets.redis(params.redis).configSet("maxmemory-policy", "allkeys-lru"),
    verify: async ({ params, targets }) => {
      const m = await targets.redis(params.redis).memoryInfo();
      return { ok: m.policy === "allkeys-lru", detail: `maxmemory-policy is ${m.policy}` };
    },
    rollback: ({ params, targets, result }) => targets.redis(params.redis).configSet("maxmemory-policy", String(result.previous)),
  })
  .act("raise-maxmemory", {
    description: "CONFIG SET maxmemory to the new limit.",
    risk: "high",
    permissions: ["redis:CONFIG"],
    locks: ({ params }) => [`redis:${params.redis}/config/maxmemory`],
    preview: async ({ params, targets }) => {
      const c = await targets.redis(params.redis).configSet("maxmemory", String(Number.parseInt(params.maxmemory, 10) * 1024 * 1024), { dryRun: true });
      return { summary: c.summary, diff: c.diff, data: { previous: c.previous } };
    },
    run: ({ params, targets }) => targets.redis(params.redis).configSet("maxmemory", String(Number.parseInt(params.maxmemory, 10) * 1024 * 1024)),
    verify: async ({ params, targets }) => {
      const m = await targets.redis(params.redis).memoryInfo();
      return { ok: m.maxmemoryBytes === Number.parseInt(params.maxmemory, 10) * 1024 * 1024, detail: `maxmemory is ${m.maxmemoryBytes} bytes` };
    },
    rollback: ({ params, targets, result }) => targets.redis(params.redis).configSet("maxmemory", String(result.previous)),
  });
