import { playbook, target, z } from "../src/sdk/index.ts";

/** Redis memory climbing on the host: find which keys hold it and what is slow. Deleting a big key is a human's call. */
export default playbook({
  id: "redis-big-keys",
  title: "Redis memory high: find the big keys",
  summary: "Reads memory and fragmentation, walks the keyspace with SCAN + MEMORY USAGE under a time budget for the biggest keys, and reads the slow log.",
  failureModes: ["redis-host-memory", "hot-key", "redis-maxmemory"],
  symptoms: [
    "Redis RSS near the host's memory; the OOM killer threatens",
    "One key or a few keys grew without bound (a list used as a queue, an unbounded set)",
    "Slow log full of commands over large values",
  ],
  match: [
    { alertname: /^Redis(MemoryHigh|HostMemoryHigh|MemoryFragmentationHigh)$/ },
    { text: /big ?keys?|large keys?|redis (memory|rss) (high|growing)|hot key/i, weight: 0.8 },
  ],
  params: z.object({
    redis: target("redis"),
    budgetMs: z.number().int().min(100).max(60_000).default(10_000),
    top: z.number().int().min(1).max(100).default(20),
  }),
})
  .diagnose("memory", {
    manual: ["redis-cli INFO memory"],
    run: ({ params, targets }) => targets.redis(params.redis).memoryInfo(),
  })
  .diagnose("big-keys", {
    description: "Biggest keys by MEMORY USAGE, within the time budget.",
    manual: ["redis-cli --memkeys -i 0.01", "redis-cli --bigkeys -i 0.01"],
    timeoutMs: 70_000,
    run: ({ params, targets }) => targets.redis(params.redis).bigKeys({ budgetMs: params.budgetMs, top: params.top }),
  })
  .diagnose("slowlog", {
    manual: ["redis-cli SLOWLOG GET 20"],
    run: ({ params, targets }) => targets.redis(params.redis).slowlog(20),
  })
  .notify("findings", {
    message: ({ outputs }) => {
      const k = outputs["big-keys"].keys[0];
      const mib = (n: number) => `${Math.round(n / 1024 / 1024)} MiB`;
      return `Redis uses ${mib(outputs.memory.usedBytes)}${outputs.memory.maxmemoryBytes ? ` of ${mib(outputs.memory.maxmemoryBytes)}` : ""}. Biggest key: ${k ? `${k.key} (${k.type}, ${mib(k.bytes)})` : "none found"}${outputs["big-keys"].complete ? "" : " (scan cut short by the budget)"}.`;
    },
  });
