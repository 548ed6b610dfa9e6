import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import pg from "pg";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresTarget } from "../../src/targets/postgres.ts";
import { createRedisTarget } from "../../src/targets/redis.ts";
import { withStepSignal } from "../../src/targets/step-signal.ts";
import { freshPgDatabase } from "../helpers/db.ts";

/**
 * Targets honour the running step's AbortSignal (the runner hands it to them through
 * withStepSignal, since their methods take none): a Redis SCAN loop stops, a Postgres
 * query is cancelled on the server.
 */
/** A free port on the loopback, for a Redis of this test's own. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe("targets stop when the step's signal aborts", () => {
  const prefix = `belay:abort:${randomBytes(4).toString("hex")}`;
  let server: ChildProcess;
  let url: string;
  let redis: Redis;
  beforeAll(async () => {
    // A Redis of this test's own: it fills thousands of keys, which the shared one must not hold.
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    redis = new Redis(url, { retryStrategy: (n) => (n > 50 ? null : 50) });
    redis.on("error", () => {}); // refused while the server starts; ping waits for it
    await redis.ping();
    const pipe = redis.pipeline();
    for (let i = 0; i < 6000; i++) pipe.set(`${prefix}:k${i}`, "v");
    await pipe.exec();
  });
  afterAll(async () => {
    redis.disconnect();
    server.kill("SIGTERM");
  });

  it("a Redis SCAN loop stops at the abort instead of walking the keyspace", async () => {
    const t = createRedisTarget("cache", url);
    try {
      // Unaborted, the same walk finds every key.
      expect(await withStepSignal(new AbortController().signal, () => t.findKeys({ pattern: `${prefix}:*`, max: 10_000 }))).toHaveLength(6000);
      const ac = new AbortController();
      const walk = withStepSignal(ac.signal, () => t.findKeys({ pattern: `${prefix}:*`, max: 10_000 }));
      ac.abort(new Error("lease lost"));
      await expect(walk).rejects.toThrow("lease lost");
      const big = new AbortController();
      big.abort(new Error("timed out"));
      await expect(withStepSignal(big.signal, () => t.bigKeys({ match: `${prefix}:*`, budgetMs: 10_000 }))).rejects.toThrow("timed out");
    } finally {
      await t.close();
    }
  });

  it("a Postgres query of an aborted step is cancelled on the server", async () => {
    const fresh = await freshPgDatabase("targets_abort");
    const holder = new pg.Client({ connectionString: fresh.url });
    await holder.connect();
    const t = createPostgresTarget("main", fresh.url);
    try {
      await holder.query("CREATE TABLE held (id int)");
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE held IN ACCESS EXCLUSIVE MODE"); // VACUUM waits behind this
      const ac = new AbortController();
      const started = Date.now();
      const vacuum = withStepSignal(ac.signal, () => t.vacuumFreeze("held"));
      vacuum.catch(() => undefined);
      setTimeout(() => ac.abort(new Error("step aborted")), 300);
      await expect(vacuum).rejects.toThrow("step aborted");
      expect(Date.now() - started).toBeLessThan(3000);
      // Nothing of belay's is left waiting on the server.
      const waiting = async () =>
        (await holder.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'belay' AND query LIKE 'VACUUM%' AND state = 'active'")).rows[0].n;
      for (let i = 0; i < 40 && (await waiting()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await waiting()).toBe(0);
      await holder.query("ROLLBACK");
    } finally {
      await t.close();
      await holder.end();
      await fresh.drop();
    }
  });
});
