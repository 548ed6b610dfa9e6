import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyChain } from "../../src/audit/chain.ts";
import { openPg } from "../../src/store/pg.ts";
import { migrate } from "../../src/store/migrate.ts";
import type { Db } from "../../src/store/driver.ts";
import { freshPgDatabase } from "../helpers/db.ts";
import { ENGINE_CHILD, runChild } from "../helpers/child.ts";

/**
 * A run with a secret param proposed by one process is finished by another (real child
 * processes sharing one Postgres and one BELAY_SECRET_KEY): the secret reaches the step
 * intact, is never in the store in clear, and is deleted when the run ends.
 */
describe("secret params across processes", () => {
  const prefix = `belay:secret:${randomBytes(4).toString("hex")}`;
  const key = randomBytes(32).toString("base64");
  const token = `tok-${randomBytes(8).toString("hex")}`;
  let db: Db;
  let drop: () => Promise<void>;
  let url: string;
  let redis: Redis;
  beforeAll(async () => {
    ({ url, drop } = await freshPgDatabase("secret_replica"));
    db = openPg(url);
    await migrate(db);
    redis = new Redis("redis://127.0.0.1:6379");
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`); // this test's own keys only
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await db.close();
    await drop();
  });

  it("is proposed by one process and finished by another; sealed meanwhile, deleted after", async () => {
    const env = { DATABASE_URL: url, PREFIX: prefix, SECRET_KEY: key };
    const first = await runChild(ENGINE_CHILD, { ...env, CHILD_MODE: "propose-secret", TOKEN: token });
    expect(first.code, first.stderr).toBe(0);
    const runId = String(first.lines[0]!.runId);
    const stored = async () =>
      JSON.stringify([
        (await db.query("SELECT * FROM runs WHERE id = $1", [runId])).rows,
        (await db.query("SELECT * FROM steps WHERE run_id = $1", [runId])).rows,
        (await db.query("SELECT * FROM audit_events WHERE run_id = $1", [runId])).rows,
        (await db.query("SELECT * FROM run_secrets WHERE run_id = $1", [runId])).rows,
      ]);
    expect(await stored()).not.toContain(token);
    expect((await db.query("SELECT count(*)::int AS n FROM run_secrets WHERE run_id = $1", [runId])).rows[0]).toEqual({ n: 1 });
    // The second process approves (as bob, through the child's scripted approvers) and finishes it.
    const second = await runChild(ENGINE_CHILD, { ...env, CHILD_MODE: "resume", RUN_ID: runId });
    expect(second.code, second.stderr).toBe(0);
    const seen = JSON.parse((await redis.get(`${prefix}:secret:${runId}`))!);
    expect(seen).toMatchObject({ token, header: `Bearer ${token}` });
    expect(seen.pid).not.toBe(first.lines.at(-1)!.pid);
    expect((await db.query("SELECT count(*)::int AS n FROM run_secrets WHERE run_id = $1", [runId])).rows[0]).toEqual({ n: 0 });
    expect(await stored()).not.toContain(token);
    expect((await verifyChain(db)).ok).toBe(true);
  });
});
