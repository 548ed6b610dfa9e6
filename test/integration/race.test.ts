import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun, verifyChain } from "../../src/audit/chain.ts";
import { approvalPolicySchema } from "../../src/approve/policy.ts";
import { Engine } from "../../src/execute/engine.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { checkPlaybooks } from "../../src/plan/registry.ts";
import { openPg } from "../../src/store/pg.ts";
import { migrate } from "../../src/store/migrate.ts";
import type { Db } from "../../src/store/driver.ts";
import { freshPgDatabase } from "../helpers/db.ts";
import { ENGINE_CHILD, runChild } from "../helpers/child.ts";
import { noTargets } from "../helpers/engine.ts";
import { counter } from "../fixtures/engine-child.counter.ts";

/**
 * Two engine processes on one Postgres race for the same runs, all of which mutate the
 * same target. Each act step must run exactly once, and the target lock must never let
 * two mutations overlap.
 */
describe("two engine processes on one Postgres", () => {
  const RUNS = 16;
  const prefix = `belay:race:${randomBytes(4).toString("hex")}`;
  let db: Db;
  let drop: () => Promise<void>;
  let url: string;
  let redis: Redis;

  beforeAll(async () => {
    const fresh = await freshPgDatabase("race");
    ({ url, drop } = fresh);
    db = openPg(url);
    await migrate(db);
    redis = new Redis("redis://127.0.0.1:6379");
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await db.close();
    await drop();
  });

  it("runs every act step exactly once and never mutates one target twice at the same time", async () => {
    const proposer = new Engine({
      db,
      clock: () => new Date(),
      newId,
      logger: silentLogger,
      targets: noTargets,
      playbooks: checkPlaybooks([counter]),
      policy: approvalPolicySchema.parse({}),
      owner: "proposer",
    });
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      ids.push((await proposer.propose({ playbookId: "counter", params: { target: "svc:shared" }, requestedBy: "alice", surface: "test" })).runId);
    }
    const env = { DATABASE_URL: url, PREFIX: prefix, CHILD_MODE: "race", RUNS: String(RUNS), LEASE_MS: "3000", HOLD_MS: "15" };
    const [a, b] = await Promise.all([runChild(ENGINE_CHILD, env, 90_000), runChild(ENGINE_CHILD, env, 90_000)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);

    const rows = (await db.query<{ status: string; status_reason: string | null }>("SELECT status, status_reason FROM runs")).rows;
    const statuses = rows.map((r) => r.status);
    expect(rows.filter((r) => r.status !== "succeeded").map((r) => r.status_reason)).toEqual([]);
    expect(statuses).toEqual(new Array(RUNS).fill("succeeded"));
    for (const id of ids) {
      for (const step of ["bump", "restart"]) {
        expect(Number(await redis.get(`${prefix}:count:${id}:${step}`)), `${id} ${step}`).toBe(1);
      }
      const started = (await eventsForRun(db, id)).filter((e) => e.kind === "step.started" && (e.step === "bump" || e.step === "restart"));
      expect(started).toHaveLength(2);
    }
    expect(Number((await redis.get(`${prefix}:violations`)) ?? 0)).toBe(0);
    // Both processes did real work: the runs were shared, not all taken by one.
    const executed = [a, b].map((c) => Number(c.lines.at(-1)!.executed));
    expect(executed[0]! + executed[1]!).toBe(RUNS * 2);
    expect(Math.min(...executed)).toBeGreaterThan(0);
    expect((await verifyChain(db)).ok).toBe(true);
  });
});
