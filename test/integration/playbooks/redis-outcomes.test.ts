import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../../src/audit/chain.ts";
import { runOutcome } from "../../../src/execute/outcome.ts";
import { createTargets } from "../../../src/targets/registry.ts";
import killIdle from "../../../playbooks/redis-kill-idle-clients.ts";
import maxmemory from "../../../playbooks/redis-maxmemory-policy.ts";
import { openTestStore, type TestStore } from "../../helpers/db.ts";
import { testEngine } from "../../helpers/engine.ts";
import { startOwnRedis } from "../../helpers/own-redis.ts";
import { output, runWithApprovals, stepStatuses } from "./harness.ts";

// CONFIG SET happens only on a Redis of this file's own; the shared 6379 is read and given clients, never reconfigured.
const P = `belay:t:out:${randomBytes(4).toString("hex")}:`;
const SHARED = "redis://127.0.0.1:6379";

let store: TestStore;
let own: Awaited<ReturnType<typeof startOwnRedis>>;
let targets: ReturnType<typeof createTargets>;
let raw: Redis;

beforeAll(async () => {
  store = await openTestStore("pg", "playbooks_redis_outcomes");
  own = await startOwnRedis();
  targets = createTargets({ redis: { cache: { url: own.url }, shared: { url: SHARED } }, postgres: {}, kube: {} });
  raw = new Redis(own.url);
});

afterAll(async () => {
  await raw?.quit();
  await targets?.close();
  await own?.stop();
  await store?.close();
});

const engineWith = (...pbs: Parameters<typeof testEngine>[0]["playbooks"]) => testEngine({ db: store.db, playbooks: pbs, targets }).engine;

async function fillUntilOom(withTtl: boolean): Promise<void> {
  const used = Number(/used_memory:(\d+)/.exec(await raw.info("memory"))![1]);
  await raw.config("SET", "maxmemory-policy", "noeviction");
  await raw.config("SET", "maxmemory", String(used + 2 * 1024 * 1024));
  let refused: Error | null = null;
  for (let i = 0; i < 2_000 && !refused; i++) {
    const set = withTtl ? raw.set(`${P}fill:${i}`, "x".repeat(16 * 1024), "EX", 300) : raw.set(`${P}fill:${i}`, "x".repeat(16 * 1024));
    await set.catch((err: Error) => (refused = err));
  }
  expect(String(refused)).toMatch(/OOM command not allowed/);
}

/** An application that keeps writing (keys without a TTL) while the playbook runs. */
function writer(): { stop: () => Promise<{ ok: number; refused: number }> } {
  const c = new Redis(own.url);
  let stopped = false;
  const tally = { ok: 0, refused: 0 };
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      await c.set(`${P}app:${i % 500}`, "y".repeat(8 * 1024)).then(
        () => tally.ok++,
        () => tally.refused++,
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await c.quit();
      return tally;
    },
  };
}

async function reset(): Promise<void> {
  await raw.config("SET", "maxmemory", "0");
  await raw.config("SET", "maxmemory-policy", "noeviction");
  await raw.flushdb(); // this Redis is the test's own
}

describe("redis-maxmemory-policy", () => {
  it("with maxmemory 0 (the published rule's divide-by-zero false positive) asks nobody and says nothing was needed", async () => {
    await reset();
    const run = await runWithApprovals(engineWith(maxmemory), "redis-maxmemory-policy", { redis: "cache" });
    expect(run.gates).toEqual([]); // nobody was asked
    expect(stepStatuses(run.view)["set-policy"]).toBe("skipped");
    expect(await raw.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
    const events = await eventsForRun(store.db, run.runId);
    expect(String(events.find((e) => e.kind === "step.skipped")?.data.reason)).toMatch(/^maxmemory is 0 \(no limit\)/);
    const o = runOutcome(run.view.run, run.view.steps, events);
    expect(o.kind).toBe("nothing_needed");
    expect(o.fixed).toBe(false);
  });

  it("at maxmemory under noeviction switches to allkeys-lru after approval, and verify sees writes succeed", async () => {
    await reset();
    await fillUntilOom(false);
    const app = writer();
    const run = await runWithApprovals(engineWith(maxmemory), "redis-maxmemory-policy", { redis: "cache", verifyWatchMs: 1_500 }, {
      beforeApprove: async () => ((await raw.config("GET", "maxmemory-policy")) as string[])[1],
    });
    const tally = await app.stop();
    expect(run.gates).toEqual([{ step: "set-policy", before: "noeviction" }]);
    expect(run.view.run.status).toBe("succeeded");
    const events = await eventsForRun(store.db, run.runId);
    expect(String(events.find((e) => e.kind === "step.verified")?.data.detail)).toMatch(/^maxmemory-policy allkeys-lru; no write refused for memory in 1\.5 s; used \d+% of maxmemory, \d+ keys evicted$/);
    expect(runOutcome(run.view.run, run.view.steps, events).kind).toBe("changed");
    expect(tally.refused).toBeGreaterThan(0); // refused before the change...
    expect(await raw.set(`${P}after`, "z")).toBe("OK"); // ...and writes succeed after it
  });

  it("a policy that frees nothing (volatile-lru, no key with a TTL) fails verify on the symptom and is rolled back", async () => {
    await reset();
    await fillUntilOom(false);
    const app = writer();
    const run = await runWithApprovals(engineWith(maxmemory), "redis-maxmemory-policy", { redis: "cache", policy: "volatile-lru", verifyWatchMs: 1_500 });
    await app.stop();
    expect(run.view.run.status).toBe("rolled_back");
    expect(run.view.run.statusReason).toMatch(/writes were refused with OOM/);
    expect(await raw.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
    expect(runOutcome(run.view.run, run.view.steps, await eventsForRun(store.db, run.runId)).kind).toBe("rolled_back");
  });
});

describe("redis-kill-idle-clients", () => {
  it("with no client idle past the threshold asks nobody (no 'CLIENT KILL 0 of N') and says why", async () => {
    const run = await runWithApprovals(engineWith(killIdle), "redis-kill-idle-clients", { redis: "shared", idleSeconds: 86_400 * 365 });
    expect(run.gates).toEqual([]);
    expect(stepStatuses(run.view)["kill-idle"]).toBe("skipped");
    const events = await eventsForRun(store.db, run.runId);
    expect(String(events.find((e) => e.kind === "step.skipped")?.data.reason)).toMatch(/^no client has been idle for 31536000 s or more \(\d+\/\d+ connected; the longest idle \d+ s\)$/);
    expect(runOutcome(run.view.run, run.view.steps, events).kind).toBe("nothing_needed");
  });

  it("verify checks connections against maxclients, not only that the killed clients are gone", async () => {
    await raw.config("SET", "maxclients", "30");
    const clients: Redis[] = [];
    try {
      const name = `${P}leaky`.replace(/:/g, "-");
      for (let i = 0; i < 2; i++) clients.push(new Redis(own.url, { connectionName: name, retryStrategy: () => null }));
      for (let i = 0; i < 25; i++) clients.push(new Redis(own.url, { connectionName: `${name}-busy`, retryStrategy: () => null }));
      for (const c of clients) c.on("error", () => {});
      await Promise.all(clients.map((c) => c.ping()));
      await new Promise((r) => setTimeout(r, 1_200));
      const run = await runWithApprovals(engineWith(killIdle), "redis-kill-idle-clients", { redis: "cache", idleSeconds: 1, name });
      expect(output(run.view, "kill-idle")).toMatchObject({ killed: 2 });
      expect(run.view.run.status).toBe("failed"); // 2 closed, but still at 90% or more of maxclients
      expect(run.view.run.statusReason).toMatch(/verify of kill-idle failed \(2 closed, 0 still connected; \d+\/30 clients connected \(still at or above 90% of maxclients\)\)/);
    } finally {
      clients.forEach((c) => c.disconnect());
      await raw.config("SET", "maxclients", "10000");
    }
  });
});
