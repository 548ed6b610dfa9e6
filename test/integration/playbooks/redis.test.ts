import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTargets } from "../../../src/targets/registry.ts";
import bigKeys from "../../../playbooks/redis-big-keys.ts";
import killIdle from "../../../playbooks/redis-kill-idle-clients.ts";
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

// redis-maxmemory-policy (CONFIG SET) is tested on a Redis of its own: redis-outcomes.test.ts.

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
