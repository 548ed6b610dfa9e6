import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { targetsFor } from "../../src/targets/facade.ts";
import { createPostgresTarget } from "../../src/targets/postgres.ts";
import { createTargets } from "../../src/targets/registry.ts";
import { withStepSignal } from "../../src/targets/step-signal.ts";
import type { KubeTarget } from "../../src/targets/types.ts";
import { freshPgDatabase } from "../helpers/db.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";
import { startFakeKube, type FakeKube } from "../fixtures/kube/fake-api-server.ts";
import { NS, deployment, mergePatch } from "../fixtures/kube/objects.ts";

/*
 * A step that was aborted (it timed out, its run lost the lease) changes nothing after the
 * abort, however early the abort lands: while the target is still connecting, between the
 * read a write is computed from and the write, or between two calls of a run that kept going
 * after its step had already been given up on. Real Postgres (a database and a victim session
 * of this file's own), a Redis of this file's own, the fake Kubernetes API server.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const aborted = (why: string) => {
  const ac = new AbortController();
  ac.abort(new Error(why));
  return ac.signal;
};

describe("postgres: an aborted step's query is never sent", () => {
  let fresh: { url: string; drop: () => Promise<void> };
  let admin: pg.Client;
  const victims: pg.Client[] = [];
  beforeAll(async () => {
    fresh = await freshPgDatabase("abort_writes");
    admin = new pg.Client({ connectionString: fresh.url });
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(victims.map((v) => v.end().catch(() => {})));
    await admin.end();
    await fresh.drop();
  });

  /** An idle session of this test's own, with an application_name nobody else uses. */
  async function victim(): Promise<{ app: string; alive: () => Promise<boolean> }> {
    const app = `belay-victim-${randomBytes(4).toString("hex")}`;
    const c = new pg.Client({ connectionString: fresh.url, application_name: app });
    c.on("error", () => {});
    await c.connect();
    victims.push(c);
    return {
      app,
      alive: async () => (await admin.query("select count(*)::int as n from pg_stat_activity where application_name = $1", [app])).rows[0].n === 1,
    };
  }

  it("an abort while the target is still connecting: pg_terminate_backend is never sent", async () => {
    const v = await victim();
    const t = createPostgresTarget("main", fresh.url);
    try {
      const ac = new AbortController();
      const step = withStepSignal(ac.signal, () => t.terminateBackends({ application: v.app, state: "idle" }));
      step.catch(() => undefined);
      ac.abort(new Error("step timed out")); // the pool is still dialling
      await expect(step).rejects.toThrow("step timed out");
      await sleep(500);
      expect(await v.alive()).toBe(true);
    } finally {
      await t.close();
    }
  });

  describe("the standing session, shared by concurrent steps", () => {
    let holder: pg.Client;
    let t: ReturnType<typeof createPostgresTarget>;
    let table: string;
    beforeEach(async () => {
      table = `held_${randomBytes(3).toString("hex")}`;
      holder = new pg.Client({ connectionString: fresh.url });
      await holder.connect();
      await holder.query(`create table ${table} (id int)`);
      t = createPostgresTarget("main", fresh.url);
      await t.hold();
    });
    afterEach(async () => {
      await holder.query("rollback").catch(() => undefined);
      await holder.end();
      await t.close();
    });

    /** Step one: a VACUUM FREEZE on the standing session, its first query waiting behind the holder's lock until it commits. */
    async function blockedVacuum(): Promise<{ one: Promise<unknown> }> {
      await holder.query("begin");
      await holder.query(`lock table ${table} in access exclusive mode`);
      const one = withStepSignal(new AbortController().signal, () => t.vacuumFreeze(table));
      one.catch(() => undefined);
      // Wait until its query is running (waiting for the lock) on the server.
      for (let i = 0; i < 100; i++) {
        const n = (await admin.query("select count(*)::int as n from pg_stat_activity where application_name = 'belay' and state = 'active'")).rows[0].n;
        if (n === 1) break;
        await sleep(20);
      }
      return { one }; // wrapped: an async function returning the promise itself would wait for it
    }

    it("aborting a step queued behind another's query cancels neither that query nor lets its own run later", async () => {
      const v = await victim();
      const { one } = await blockedVacuum();
      const ac = new AbortController();
      const two = withStepSignal(ac.signal, () => t.terminateBackends({ application: v.app, state: "idle" }));
      two.catch(() => undefined);
      await sleep(50);
      ac.abort(new Error("step two timed out"));
      await expect(two).rejects.toThrow("step two timed out");
      await sleep(200);
      await holder.query("commit"); // step one's VACUUM gets its lock now
      await expect(one).resolves.toMatchObject({ dryRun: false });
      await sleep(300);
      expect(await v.alive()).toBe(true);
    });

    it("aborting the step whose query is running on the standing session cancels that query", async () => {
      await holder.query("begin");
      await holder.query(`lock table ${table} in access exclusive mode`);
      const ac = new AbortController();
      const started = Date.now();
      const one = withStepSignal(ac.signal, () => t.vacuumFreeze(table));
      one.catch(() => undefined);
      setTimeout(() => ac.abort(new Error("step one aborted")), 300);
      await expect(one).rejects.toThrow("step one aborted");
      expect(Date.now() - started).toBeLessThan(3000);
      // The standing session is free again: a later step's query runs on it.
      expect((await withStepSignal(new AbortController().signal, () => t.connections())).max).toBeGreaterThan(0);
    });
  });
});

describe("redis: an aborted step's CONFIG SET never happens", () => {
  let own: OwnRedis;
  let raw: Redis;
  let targets: ReturnType<typeof createTargets>;
  beforeAll(async () => {
    own = await startOwnRedis();
    raw = new Redis(own.url);
    targets = createTargets({ redis: { own: { url: own.url } }, postgres: {}, kube: {} });
  });
  afterAll(async () => {
    raw.disconnect();
    await targets.close();
    await own.stop();
  });
  const policy = async () => ((await raw.config("GET", "maxmemory-policy")) as string[])[1];
  beforeEach(async () => void (await raw.config("SET", "maxmemory-policy", "noeviction")));

  it("an abort between reading the old value and CONFIG SET: nothing is set", async () => {
    expect(await policy()).toBe("noeviction");
    const ac = new AbortController();
    const step = withStepSignal(ac.signal, () => targets.redis("own").configSet("maxmemory-policy", "allkeys-lru"));
    step.catch(() => undefined);
    ac.abort(new Error("step timed out")); // the CONFIG GET is on the wire
    await expect(step).rejects.toThrow("step timed out");
    await sleep(100);
    expect(await policy()).toBe("noeviction");
  });

  it("a run that keeps calling after its step was aborted gets nothing from the full facade", async () => {
    const full = targetsFor(targets, "full");
    const signal = aborted("lease lost");
    await expect(withStepSignal(signal, () => full.redis("own").configSet("maxmemory-policy", "allkeys-lru"))).rejects.toThrow("lease lost");
    await expect(withStepSignal(signal, () => full.redis("own").configGet("maxmemory-policy"))).rejects.toThrow("lease lost");
    expect(await policy()).toBe("noeviction");
    // Outside an aborted step it is the target itself.
    expect(await withStepSignal(new AbortController().signal, () => full.redis("own").configGet("maxmemory-policy"))).toBe("noeviction");
    expect(full.redis("own").name).toBe("own");
  });
});

describe("kube: an aborted step's patch is never sent", () => {
  const DEP = `/apis/apps/v1/namespaces/${NS}/deployments/api`;
  let fake: FakeKube;
  let kube: KubeTarget;
  let close: () => Promise<void>;
  beforeEach(async () => {
    fake = await startFakeKube();
    const targets = createTargets({ redis: {}, postgres: {}, kube: { prod: { server: fake.url, token: "t0ken", skipTLSVerify: true } } });
    kube = targets.kube("prod");
    close = targets.close;
    fake.route({ method: "GET", path: DEP, reply: () => ({ body: deployment() }) });
    fake.route({ method: "PATCH", path: DEP, reply: (req) => ({ body: mergePatch(deployment(), req.body) }) });
    fake.route({ method: "GET", path: `${DEP}/scale`, reply: () => ({ body: { kind: "Scale", apiVersion: "autoscaling/v1", metadata: { name: "api", namespace: NS }, spec: { replicas: 3 } } }) });
    fake.route({ method: "PATCH", path: `${DEP}/scale`, reply: () => ({ body: { kind: "Scale", apiVersion: "autoscaling/v1", metadata: { name: "api", namespace: NS }, spec: { replicas: 5 } } }) });
  });
  afterEach(async () => {
    await close();
    await fake.close();
  });

  it("an abort while the Deployment is being read: no PATCH follows", async () => {
    for (const call of [() => kube.rolloutRestart(NS, "api"), () => kube.scale(NS, "api", 5), () => kube.setMemoryLimit(NS, "api", "api", "512Mi")]) {
      const ac = new AbortController();
      const step = withStepSignal(ac.signal, call);
      step.catch(() => undefined);
      ac.abort(new Error("step timed out"));
      await expect(step).rejects.toThrow("step timed out");
    }
    await sleep(100);
    expect(fake.mutations()).toEqual([]);
  });
});
