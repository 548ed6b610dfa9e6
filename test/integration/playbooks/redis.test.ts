import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTargets } from "../../../src/targets/registry.ts";
import bigKeys from "../../../playbooks/redis-big-keys.ts";
import killIdle from "../../../playbooks/redis-kill-idle-clients.ts";
import maxmemory from "../../../playbooks/redis-maxmemory-policy.ts";
import staleCache from "../../../playbooks/stale-cache-flush-user.ts";
import { openTestStore, type TestStore } from "../../helpers/db.ts";
import { testEngine } from "../../helpers/engine.ts";
import { startOwnRedis, type OwnRedis } from "../../helpers/own-redis.ts";
import { output, runWithApprovals, stepStatuses } from "./harness.ts";

// These playbooks CONFIG SET, fill Redis to maxmemory and CLIENT KILL: on a Redis of this file's
// own, never the shared 6379 (whose other writers would get OOM). Keys still carry a prefix.
const P = `belay:t:pb:${randomBytes(4).toString("hex")}:`;
let own: OwnRedis;
let URL: string;

let store: TestStore;
let targets: ReturnType<typeof createTargets>;
let raw: Redis;

beforeAll(async () => {
  store = await openTestStore("pg", "playbooks_redis");
  own = await startOwnRedis();
  URL = own.url;
  targets = createTargets({ redis: { cache: { url: URL } }, postgres: {}, kube: {} });
  raw = new Redis(URL);
});

afterAll(async () => {
  let cursor = "0";
  do {
    const [next, keys] = await raw.scan(cursor, "MATCH", `${P}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await raw.del(...keys);
  } while (cursor !== "0");
  await raw.quit();
  await targets.close();
  await own?.stop();
  await store.close();
});

function engineWith(...playbooks: Parameters<typeof testEngine>[0]["playbooks"]) {
  return testEngine({ db: store.db, playbooks, targets }).engine;
}

async function configGet(name: string): Promise<string> {
  return ((await raw.config("GET", name)) as string[])[1]!;
}

describe("redis-maxmemory-policy against a Redis that refuses writes", () => {
  it("stages OOM under noeviction, switches policy after approval so writes succeed, and restores config", async () => {
    const saved = { maxmemory: await configGet("maxmemory"), policy: await configGet("maxmemory-policy") };
    const engine = engineWith(maxmemory);
    try {
      // Stage: a limit just above what is used now, no eviction, then fill with our own keys until Redis refuses.
      // Our filler keys carry a TTL, and the playbook is asked for volatile-lru, so only keys
      // with a TTL are evicted: other tests' keys on this shared server are left alone.
      const used = Number(/used_memory:(\d+)/.exec(await raw.info("memory"))![1]);
      await raw.config("SET", "maxmemory-policy", "noeviction");
      await raw.config("SET", "maxmemory", String(used + 2 * 1024 * 1024));
      let refused: Error | null = null;
      for (let i = 0; i < 2_000 && !refused; i++) {
        await raw.set(`${P}fill:${i}`, "x".repeat(16 * 1024), "EX", 300).catch((err: Error) => (refused = err));
      }
      expect(refused).not.toBeNull();
      expect(String(refused)).toMatch(/OOM command not allowed/);

      const run = await runWithApprovals(engine, "redis-maxmemory-policy", { redis: "cache", policy: "volatile-lru" }, {
        beforeApprove: async () => configGet("maxmemory-policy"),
      });
      expect(run.gates).toEqual([{ step: "set-policy", before: "noeviction" }]); // nothing changed before approval
      expect(run.previews["set-policy"]).toBe("CONFIG SET maxmemory-policy noeviction -> volatile-lru\nmaxmemory-policy: noeviction -> volatile-lru");
      expect(run.view.run.status).toBe("succeeded");
      expect(output(run.view, "memory")).toMatchObject({ policy: "noeviction", maxmemoryBytes: used + 2 * 1024 * 1024 });
      expect(await configGet("maxmemory-policy")).toBe("volatile-lru");
      // Writes succeed again: Redis evicts our TTL'd filler instead of refusing.
      expect(await raw.set(`${P}after`, "y".repeat(16 * 1024), "EX", 300)).toBe("OK");
    } finally {
      await raw.config("SET", "maxmemory", saved.maxmemory);
      await raw.config("SET", "maxmemory-policy", saved.policy);
    }
  });

  it("rolls back to the old policy when verify fails", async () => {
    const saved = await configGet("maxmemory-policy");
    // A verify that sees another policy than asked: wrap the real target so memoryInfo lies once.
    const lying = {
      ...targets,
      redis: (name: string) => {
        const real = targets.redis(name);
        return { ...real, memoryInfo: async () => ({ ...(await real.memoryInfo()), policy: "something-else" }) };
      },
    };
    const engine = testEngine({ db: store.db, playbooks: [maxmemory], targets: lying }).engine;
    try {
      await raw.config("SET", "maxmemory-policy", "noeviction");
      const run = await runWithApprovals(engine, "redis-maxmemory-policy", { redis: "cache", policy: "allkeys-lfu" });
      expect(run.view.run.status).toBe("rolled_back");
      expect(await configGet("maxmemory-policy")).toBe("noeviction");
    } finally {
      await raw.config("SET", "maxmemory-policy", saved);
    }
  });
});

describe("redis-kill-idle-clients", () => {
  it("kills exactly the idle clients the preview listed, after approval", async () => {
    const name = `${P}leaky`.replace(/:/g, "-");
    const idle = [0, 1, 2].map(() => new Redis(URL, { connectionName: name, retryStrategy: () => null }));
    const busy = new Redis(URL, { connectionName: `${name}-busy` });
    await Promise.all([...idle, busy].map((c) => c.ping()));
    await new Promise((r) => setTimeout(r, 1_200));
    const engine = engineWith(killIdle);
    const closed = Promise.all(idle.map((c) => new Promise((r) => c.once("end", r))));
    const run = await runWithApprovals(engine, "redis-kill-idle-clients", { redis: "cache", idleSeconds: 1, name }, {
      beforeApprove: async () => (await raw.client("LIST") as string).split("\n").filter((l) => l.includes(`name=${name} `)).length,
    });
    expect(run.gates).toEqual([{ step: "kill-idle", before: 3 }]);
    expect(run.previews["kill-idle"]).toMatch(/^CLIENT KILL 3 of \d+ clients\n- id=\d+ addr=127\.0\.0\.1:\d+ name=belay-t-pb-/);
    expect(run.view.run.status).toBe("succeeded");
    expect(output(run.view, "kill-idle")).toMatchObject({ killed: 3 });
    await closed;
    expect(await busy.ping()).toBe("PONG");
    await busy.quit();
  });
});

describe("stale-cache-flush-user", () => {
  it("deletes exactly one user's keys from the templates, listed in the preview", async () => {
    const templates = [`${P}residence_ids:{user_id}`, `${P}profile:{user_id}`, `${P}feed:{userId}:v2`];
    await raw.set(`${P}residence_ids:42`, "[7,9]");
    await raw.set(`${P}profile:42`, '{"city":"old"}');
    await raw.set(`${P}residence_ids:420`, "[1]");
    await raw.set(`${P}residence_ids:43`, "[3]");
    const engine = engineWith(staleCache);
    const run = await runWithApprovals(engine, "stale-cache-flush-user", { redis: "cache", userId: "42", keyTemplates: templates }, {
      beforeApprove: async () => raw.exists(`${P}residence_ids:42`, `${P}profile:42`),
    });
    expect(run.gates).toEqual([{ step: "delete-keys", before: 2 }]);
    expect(run.previews["delete-keys"]).toBe(`DEL 2 exact keys\n- ${P}residence_ids:42\n- ${P}profile:42`);
    expect(run.view.run.status).toBe("succeeded");
    expect(await raw.exists(`${P}residence_ids:42`, `${P}profile:42`)).toBe(0);
    expect(await raw.exists(`${P}residence_ids:420`, `${P}residence_ids:43`)).toBe(2);
  });

  it("refuses a user id that would widen into a pattern", async () => {
    const engine = engineWith(staleCache);
    await expect(engine.propose({ playbookId: "stale-cache-flush-user", params: { userId: "*" }, requestedBy: "alice", surface: "cli" })).rejects.toThrow(/userId/);
  });
});

describe("redis-big-keys", () => {
  it("runs its diagnostics without approval and names the big key", async () => {
    await raw.set(`${P}huge`, "z".repeat(3 * 1024 * 1024), "EX", 300);
    const engine = engineWith(bigKeys);
    const run = await runWithApprovals(engine, "redis-big-keys", { redis: "cache", budgetMs: 5_000, top: 50 });
    expect(run.gates).toEqual([]);
    expect(stepStatuses(run.view)).toEqual({ memory: "succeeded", "big-keys": "succeeded", slowlog: "succeeded", findings: "succeeded" });
    expect(output<{ keys: { key: string }[] }>(run.view, "big-keys").keys.map((k) => k.key)).toContain(`${P}huge`);
  });
});
