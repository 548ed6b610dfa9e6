import { afterAll, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../../src/execute/deps.ts";
import { enqueueJob, JobRunner, type JobHandler } from "../../src/incidents/jobs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

/*
 * A job handler that outlives its timeout keeps running in the background (a promise cannot
 * be stopped). Once abandoned it must record nothing more: its job is pending again and the
 * next attempt reads `state` to know what was already done.
 */

let store: TestStore;

beforeAll(async () => {
  store = await openTestStore("pg", "incidents_jobs");
});
afterAll(async () => {
  await store.close();
});

it("refuses remember() from a handler abandoned after its timeout", async () => {
  const now = new Date();
  await store.db.query(`INSERT INTO incidents (id, title, created_at, updated_at) VALUES ('inc_jobs', 'jobs', $1, $1)`, [now]);
  await enqueueJob(store.db, { id: "job_slow", incidentId: "inc_jobs", kind: "triage", dedupeKey: "triage:inc_jobs:1", now });

  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let lateRemember: Promise<unknown> | null = null;
  const slow: JobHandler = async ({ remember }) => {
    await gate; // the diagnose steps take longer than the job may
    lateRemember = remember({ thread: { channel: "C1", ts: "1.1" } });
    await lateRemember;
    return { kind: "done" };
  };
  const runner = new JobRunner({
    db: store.db,
    clock: () => new Date(),
    logger: silentLogger,
    owner: "test-owner",
    timeoutMs: 100,
    handlers: { triage: slow, resolve: async () => ({ kind: "done" }) },
  });
  runner.kick();
  for (let i = 0; i < 100; i++) {
    const [row] = (await store.db.query<{ status: string; last_error: string | null }>(`SELECT status, last_error FROM incident_jobs WHERE id = 'job_slow'`)).rows;
    if (row!.status === "pending" && row!.last_error) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  release();
  await expect(Promise.resolve().then(async () => {
    for (let i = 0; i < 50 && !lateRemember; i++) await new Promise((r) => setTimeout(r, 10));
    return lateRemember;
  })).rejects.toMatchObject({ code: "lease.lost" });
  const [job] = (await store.db.query<{ status: string; state: Record<string, unknown>; last_error: string }>(`SELECT status, state, last_error FROM incident_jobs WHERE id = 'job_slow'`)).rows;
  expect(job!.status).toBe("pending");
  expect(job!.last_error).toContain("timed out");
  expect(job!.state).toEqual({});
  await runner.stop();
});
