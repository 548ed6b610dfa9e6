import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun, verifyChain } from "../../src/audit/chain.ts";
import { approvalPolicySchema } from "../../src/approve/policy.ts";
import { decide } from "../../src/execute/decisions.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { getSteps, getRun } from "../../src/store/runs.ts";
import { openPg } from "../../src/store/pg.ts";
import { openPglite } from "../../src/store/pglite.ts";
import type { Db } from "../../src/store/driver.ts";
import { freshPgDatabase } from "../helpers/db.ts";
import { ENGINE_CHILD, runChild } from "../helpers/child.ts";
import { noTargets } from "../helpers/engine.ts";
import { personAt } from "../helpers/engine.ts";

/**
 * The crash test: a real child process runs a playbook whose act steps INCR counters in
 * the machine's Redis. It is SIGKILLed at every step boundary and in the middle of each
 * act step; a fresh process then carries on from the same store. Every time: no act step's
 * side effect happens twice, an interrupted act step becomes `uncertain` (never silently
 * re-run), the audit chain verifies, and a human decision finishes the run.
 */
const STEPS = ["look", "bump", "look-again", "restart"] as const;
const ACTS = ["bump", "restart"] as const;
const POINTS = [
  ...STEPS.flatMap((s) => [`step.before:${s}`, `step.after:${s}`]),
  ...ACTS.flatMap((s) => [`act.started:${s}`, `mid:${s}`, `act.ran:${s}`, `act.recorded:${s}`]),
];
/** Where the act's side effect may have happened without being recorded: the step must come back uncertain. */
const UNCERTAIN = new Set(ACTS.flatMap((s) => [`act.started:${s}`, `mid:${s}`, `act.ran:${s}`]));

let redis: Redis;
const prefix = `belay:crash:${randomBytes(4).toString("hex")}`;

beforeAll(() => {
  redis = new Redis("redis://127.0.0.1:6379");
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`); // test cleanup of this test's own keys only
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

async function humanDecides(db: Db, runId: string, counters: (step: string) => Promise<number>): Promise<string> {
  const steps = await getSteps(db, runId);
  const uncertain = steps.find((s) => s.status === "uncertain")!;
  // The human looks at the target: the change happened -> skip; it did not -> retry.
  const choice = (await counters(uncertain.name)) >= 1 ? "skip" : "retry";
  const deps = {
    db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets: noTargets,
    playbooks: new Map(),
    policy: approvalPolicySchema.parse({}),
    owner: "human",
  };
  const r = await decide(deps, { kind: choice, runId, step: uncertain.name, actor: personAt("dave") });
  expect(r.accepted).toBe(true);
  return `${uncertain.name}:${choice}`;
}

async function crashAndRecover(env: Record<string, string>, db: Db, point: string) {
  const crashed = await runChild(ENGINE_CHILD, { ...env, CHILD_MODE: "propose", CRASH_AT: point });
  expect(crashed.signal, `${point}: ${crashed.stderr}`).toBe("SIGKILL");
  const runId = String(crashed.lines[0]!.runId);
  const counters = async (step: string) => Number((await redis.get(`${env.PREFIX}:count:${runId}:${step}`)) ?? 0);

  let resumed = await runChild(ENGINE_CHILD, { ...env, CHILD_MODE: "resume", RUN_ID: runId });
  const decisions: string[] = [];
  while (resumed.code === 10) {
    const run = await getRun(db, runId);
    expect(run!.status).toBe("awaiting_decision");
    decisions.push(await humanDecides(db, runId, counters));
    resumed = await runChild(ENGINE_CHILD, { ...env, CHILD_MODE: "resume", RUN_ID: runId });
  }
  expect(resumed.code, `${point}: ${resumed.stderr}`).toBe(0);
  expect((await getRun(db, runId))!.status).toBe("succeeded");
  for (const step of ACTS) expect(await counters(step), `${point}: ${step} ran exactly once`).toBe(1);
  const kinds = (await eventsForRun(db, runId)).map((e) => `${e.kind}${e.step ? `:${e.step}` : ""}`);
  const [, crashedStep] = point.split(":");
  if (UNCERTAIN.has(point)) {
    expect(kinds, point).toContain(`step.uncertain:${crashedStep}`);
    expect(decisions).toHaveLength(1);
  } else {
    expect(kinds.some((k) => k.startsWith("step.uncertain")), point).toBe(false);
  }
  expect(kinds).toContain("run.resumed");
  const chain = await verifyChain(db);
  expect(chain.ok, chain.broken?.message).toBe(true);
  return { runId, decisions, kinds };
}

describe("crash at every step boundary and inside every act step (Postgres)", () => {
  let db: Db;
  let drop: () => Promise<void>;
  let env: Record<string, string>;
  beforeAll(async () => {
    const fresh = await freshPgDatabase("crash");
    drop = fresh.drop;
    db = openPg(fresh.url);
    env = { DATABASE_URL: fresh.url, PREFIX: prefix, LEASE_MS: "400" };
  });
  afterAll(async () => {
    await db.close();
    await drop();
  });

  it.each(POINTS)("SIGKILL at %s", async (point) => {
    const { decisions, kinds } = await crashAndRecover(env, db, point);
    if (point === "act.recorded:bump") {
      // The change was recorded before the crash: only its (read-only) verify runs again.
      expect(kinds.filter((k) => k === "step.executed:bump")).toHaveLength(1);
      expect(decisions).toEqual([]);
    }
    if (point.startsWith("act.started:")) expect(decisions[0]).toMatch(/:retry$/); // nothing happened yet: a human retries
    if (point.startsWith("mid:") || point.startsWith("act.ran:")) expect(decisions[0]).toMatch(/:skip$/); // it happened: a human skips
  });
});

describe("crash on the embedded store (PGlite)", () => {
  it("recovers after SIGKILL mid-mutation, taking over the dead process's lock file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "belay-crash-"));
    try {
      const env = { DATA_DIR: dir, PREFIX: `${prefix}:pglite`, LEASE_MS: "400", DATABASE_URL: "" };
      const crashed = await runChild(ENGINE_CHILD, { ...env, CHILD_MODE: "propose", CRASH_AT: "mid:restart" });
      expect(crashed.signal).toBe("SIGKILL");
      const runId = String(crashed.lines[0]!.runId);
      const resumed = await runChild(ENGINE_CHILD, { ...env, CHILD_MODE: "resume", RUN_ID: runId });
      expect(resumed.code, resumed.stderr).toBe(10); // uncertain: waits for a human
      const db = await openPglite(dir, { command: "crash test" });
      try {
        const steps = await getSteps(db, runId);
        expect(steps.find((s) => s.name === "restart")!.status).toBe("uncertain");
        expect(Number(await redis.get(`${env.PREFIX}:count:${runId}:restart`))).toBe(1);
        expect((await verifyChain(db)).ok).toBe(true);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
