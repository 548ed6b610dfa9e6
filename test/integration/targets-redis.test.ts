import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTargets } from "../../src/targets/registry.ts";
import type { RedisTarget } from "../../src/targets/types.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";

// CONFIG SET, SLOWLOG thresholds and CLIENT KILL change the whole server: this file runs on a
// Redis of its own, never on the shared 6379 (keys still carry a prefix, CONFIG is still restored).
const P = `belay:t:targets:${randomBytes(4).toString("hex")}:`;
let own: OwnRedis;
let URL: string;

let targets: ReturnType<typeof createTargets>;
let redis: RedisTarget;
let raw: Redis;

beforeAll(async () => {
  own = await startOwnRedis();
  URL = own.url;
  targets = createTargets({ redis: { cache: { url: URL } }, postgres: {}, kube: {} });
  redis = targets.redis("cache");
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
});

describe("redis target", () => {
  it("parses INFO into sections and memory into typed fields", async () => {
    const info = await redis.info();
    expect(info.server?.redis_version).toMatch(/^\d+\.\d+/);
    expect(Number(info.memory?.used_memory)).toBeGreaterThan(0);
    const mem = await redis.memoryInfo();
    expect(mem.usedBytes).toBeGreaterThan(0);
    expect(mem.policy).toBe(await redis.configGet("maxmemory-policy"));
    expect(typeof mem.evictedKeys).toBe("number");
    const clients = await redis.clientsInfo();
    expect(clients.connected).toBeGreaterThanOrEqual(2);
    expect(clients.maxclients).toBeGreaterThan(0);
  });

  it("CONFIG SET previews old -> new, changes, and can be restored", async () => {
    const before = await redis.configGet("maxmemory-policy");
    const other = before === "allkeys-lru" ? "volatile-lru" : "allkeys-lru";
    try {
      const preview = await redis.configSet("maxmemory-policy", other, { dryRun: true });
      expect(preview).toMatchObject({ dryRun: true, previous: before, value: other, summary: `CONFIG SET maxmemory-policy ${before} -> ${other}` });
      expect(await redis.configGet("maxmemory-policy")).toBe(before);
      await redis.configSet("maxmemory-policy", other);
      expect(await redis.configGet("maxmemory-policy")).toBe(other);
    } finally {
      await raw.config("SET", "maxmemory-policy", before!);
    }
    await expect(redis.configSet("no-such-parameter", "1")).rejects.toThrow(/no config parameter/);
  });

  it("deletes exact keys, listing only those that exist", async () => {
    await raw.set(`${P}residence_ids:42`, "[1,2]");
    await raw.set(`${P}residence_ids:43`, "[3]");
    const spec = { keys: [`${P}residence_ids:42`, `${P}residence_ids:missing`] };
    const preview = await redis.deleteKeys(spec, { dryRun: true });
    expect(preview).toMatchObject({ keys: [`${P}residence_ids:42`], count: 1, deleted: 0, diff: `- ${P}residence_ids:42` });
    expect(await raw.exists(`${P}residence_ids:42`)).toBe(1);
    const done = await redis.deleteKeys(spec);
    expect(done.deleted).toBe(1);
    expect(await raw.exists(`${P}residence_ids:42`, `${P}residence_ids:43`)).toBe(1);
  });

  it("deletes by a bounded pattern with SCAN, refuses unbounded patterns and too many matches", async () => {
    for (let i = 0; i < 30; i++) await raw.set(`${P}feed:7:${i}`, "x");
    await raw.set(`${P}feed:8:0`, "keep");
    await expect(redis.deleteKeys({ pattern: "*feed:7:*" })).rejects.toThrow(/not bounded/);
    await expect(redis.deleteKeys({ pattern: `${P}feed:7:*`, max: 10 })).rejects.toThrow(/more than 10 keys match/);
    expect(await raw.exists(`${P}feed:7:0`)).toBe(1);
    const preview = await redis.deleteKeys({ pattern: `${P}feed:7:*` }, { dryRun: true });
    expect(preview.count).toBe(30);
    expect(preview.keys).toContain(`${P}feed:7:29`);
    const done = await redis.deleteKeys({ pattern: `${P}feed:7:*` });
    expect(done.deleted).toBe(30);
    expect(await raw.exists(`${P}feed:8:0`)).toBe(1);
  });

  it("finds big keys within a time budget", async () => {
    await raw.set(`${P}big`, "x".repeat(200_000));
    await raw.set(`${P}small`, "x");
    const big = await redis.bigKeys({ match: `${P}*`, top: 1, budgetMs: 5_000 });
    expect(big.complete).toBe(true);
    expect(big.keys).toEqual([{ key: `${P}big`, type: "string", bytes: expect.any(Number) }]);
    expect(big.keys[0]!.bytes).toBeGreaterThan(200_000);
    const stopped = createTargets({ redis: { c: { url: URL } }, postgres: {}, kube: {} }, {});
    // A budget of zero scans nothing and says so.
    const none = await stopped.redis("c").bigKeys({ budgetMs: 0 });
    expect(none).toEqual({ keys: [], scanned: 0, complete: false });
    await stopped.close();
  });

  it("summarises CLIENT LIST and kills idle clients by filter, never itself", async () => {
    const idle = [new Redis(URL, { connectionName: `${P}idle`.replace(/:/g, "-") }), new Redis(URL, { connectionName: `${P}idle`.replace(/:/g, "-") })];
    const busy = new Redis(URL, { connectionName: `${P}busy`.replace(/:/g, "-") });
    await Promise.all([...idle, busy].map((c) => c.ping()));
    const name = `${P}idle`.replace(/:/g, "-");
    const summary = await redis.clientList();
    expect(summary.byName.find((n) => n.name === name)?.count).toBe(2);
    expect(summary.total).toBeGreaterThanOrEqual(3);
    expect(Object.values(summary.idle).reduce((a, b) => a + b, 0)).toBe(summary.total);

    await expect(redis.clientKill({})).rejects.toThrow(/needs a filter/);
    const preview = await redis.clientKill({ name }, { dryRun: true });
    expect(preview.clients.map((c) => c.name)).toEqual([name, name]);
    expect(preview.killed).toBe(0);
    const closed = Promise.all(idle.map((c) => new Promise((r) => c.once("close", r))));
    for (const c of idle) c.options.retryStrategy = () => null; // let the killed clients stay dead
    const done = await redis.clientKill({ name });
    expect(done.killed).toBe(2);
    await closed;
    expect(await busy.ping()).toBe("PONG");
    await busy.quit();
    idle.forEach((c) => c.disconnect());
  });

  it("reads SLOWLOG entries", async () => {
    const threshold = (await raw.config("GET", "slowlog-log-slower-than")) as string[];
    try {
      await raw.config("SET", "slowlog-log-slower-than", "0");
      await raw.set(`${P}slow`, "1");
      const log = await redis.slowlog(50);
      expect(log.some((e) => e.command.startsWith(`set ${P}slow`) || e.command.startsWith(`SET ${P}slow`))).toBe(true);
      expect(log[0]).toMatchObject({ id: expect.any(Number), durationMicros: expect.any(Number), at: expect.stringMatching(/^\d{4}-/) });
    } finally {
      await raw.config("SET", "slowlog-log-slower-than", threshold[1]!);
    }
  });
});
