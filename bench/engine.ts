/**
 * `npm run bench:engine`: the engine's own cost, on the machine's Postgres and on PGlite.
 *
 * 1,000 runs of a 5-step playbook (3 diagnose, 2 act) with scripted approvals, one after
 * another in one process. For each step, engine overhead = the wall time the engine spent on
 * it (every pass: preview, approval gate, state writes, audit appends, verify) minus the
 * time spent inside the step's own functions. Then `audit verify` over 100,000 events.
 * Prints one JSON object.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { appendAudit, verifyChain } from "../src/audit/chain.ts";
import { approvalPolicySchema } from "../src/approve/policy.ts";
import { Engine } from "../src/execute/engine.ts";
import { silentLogger } from "../src/execute/deps.ts";
import { newId } from "../src/ids.ts";
import { checkPlaybooks } from "../src/plan/registry.ts";
import { playbook, z } from "../src/sdk/index.ts";
import type { Db } from "../src/store/driver.ts";
import { migrate } from "../src/store/migrate.ts";
import { openPg } from "../src/store/pg.ts";
import { openPglite } from "../src/store/pglite.ts";
import type { Targets } from "../src/targets/types.ts";
import { People, principalFromTerminal } from "../src/identity/index.ts";

const BOB = principalFromTerminal(new People({ bob: { login: "bob" } }), { login: "bob", host: "bench" }, { breakGlass: { allowed: false } });

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const AUDIT_EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 100_000);
const PG_ADMIN = process.env.BELAY_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Time spent inside step functions, by "runId/step". */
const work = new Map<string, number>();
function timed<T>(key: string, fn: () => T): T {
  const t = performance.now();
  try {
    return fn();
  } finally {
    work.set(key, (work.get(key) ?? 0) + performance.now() - t);
  }
}

const state = { value: 0 };
const pb = playbook({ id: "bench", title: "Bench", summary: "Five cheap steps.", failureModes: [], params: z.object({ n: z.number().default(1) }) })
  .diagnose("read-1", ({ run }) => timed(`${run.id}/read-1`, () => ({ value: state.value })))
  .diagnose("read-2", ({ run, outputs }) => timed(`${run.id}/read-2`, () => ({ twice: outputs["read-1"].value * 2 })))
  .act("change-1", {
    risk: "low",
    permissions: ["bench:write"],
    locks: () => ["bench:state"],
    preview: ({ run, outputs }) => timed(`${run.id}/change-1`, () => `value ${outputs["read-1"].value} -> +1`),
    run: ({ run }) => timed(`${run.id}/change-1`, () => ({ value: ++state.value })),
    verify: ({ run, result }) => timed(`${run.id}/change-1`, () => result.value === state.value),
    rollback: ({ run }) => timed(`${run.id}/change-1`, () => state.value--),
  })
  .diagnose("read-3", ({ run }) => timed(`${run.id}/read-3`, () => ({ value: state.value })))
  .act("change-2", {
    risk: "low",
    permissions: ["bench:write"],
    locks: { none: "a benchmark step: it changes nothing another run could change" },
    preview: ({ run }) => timed(`${run.id}/change-2`, () => "value +1"),
    run: ({ run }) => timed(`${run.id}/change-2`, () => ({ value: ++state.value })),
    verify: ({ run }) => timed(`${run.id}/change-2`, () => true),
    irreversible: "a benchmark counter",
  });

const noTargets = {} as Targets;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (n: number, d = 3) => Number(n.toFixed(d));

async function benchRuns(db: Db) {
  const events = { n: 0 };
  /** Engine wall time per "runId/step": summed over the step's passes. */
  const wall = new Map<string, number>();
  let current: { key: string; t: number } | null = null;
  const close = () => {
    if (current) wall.set(current.key, (wall.get(current.key) ?? 0) + performance.now() - current.t);
    current = null;
  };
  const engine = new Engine({
    db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets: noTargets,
    playbooks: checkPlaybooks([pb]),
    policy: approvalPolicySchema.parse({}),
    owner: "bench",
    onEvents: (e) => (events.n += e.length),
    onPhase: (phase, at) => {
      if (phase === "step.before") {
        close();
        current = { key: `${at.runId}/${at.step}`, t: performance.now() };
      }
      if (phase === "step.after") close();
    },
  });
  const approvals: number[] = [];
  const started = performance.now();
  for (let i = 0; i < RUNS; i++) {
    const { runId } = await engine.propose({ playbookId: "bench", params: {}, requestedBy: "alice", surface: "bench" });
    for (;;) {
      const view = await engine.drive(runId);
      close(); // a pass that ended blocked on approval
      if (view.run.status !== "awaiting_approval") {
        if (view.run.status !== "succeeded") throw new Error(`run ${runId} ended ${view.run.status}: ${view.run.statusReason}`);
        break;
      }
      const step = view.steps.find((s) => s.status === "awaiting_approval")!;
      const t = performance.now();
      const r = await engine.decide({ kind: "approve", runId, step: step.name, actor: BOB, planHash: view.run.planHash });
      approvals.push(performance.now() - t);
      if (!r.resumed) throw new Error(`approval did not resume ${runId}: ${r.message}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const overhead = [...wall.entries()].map(([k, ms]) => ms - (work.get(k) ?? 0)).sort((a, b) => a - b);
  approvals.sort((a, b) => a - b);
  return {
    runs: RUNS,
    steps: overhead.length,
    runsPerSecond: round(RUNS / seconds, 1),
    stepOverheadMs: { p50: round(pct(overhead, 50)), p99: round(pct(overhead, 99)), max: round(overhead.at(-1)!) },
    approveMs: { p50: round(pct(approvals, 50)), p99: round(pct(approvals, 99)) },
    auditEvents: events.n,
    auditEventsPerSecond: round(events.n / seconds, 1),
  };
}

async function benchVerify(db: Db) {
  const have = (await db.query<{ n: number }>("SELECT count(*) AS n FROM audit_events")).rows[0]!.n;
  const batch = 2000;
  const fillStart = performance.now();
  for (let done = have; done < AUDIT_EVENTS; done += batch) {
    const n = Math.min(batch, AUDIT_EVENTS - done);
    await db.transaction((tx) =>
      appendAudit(
        tx,
        Array.from({ length: n }, (_, i) => ({
          kind: "step.succeeded",
          actor: "belay",
          surface: "engine",
          runId: `run_fill_${done + i}`,
          step: "read",
          data: { output: { value: done + i, note: "filler event for the verify benchmark" } },
        })),
        { now: new Date(), newId: () => newId("evt") },
      ),
    );
  }
  const fillSeconds = (performance.now() - fillStart) / 1000;
  const t = performance.now();
  const r = await verifyChain(db);
  const ms = performance.now() - t;
  if (!r.ok) throw new Error(`chain broken: ${r.broken?.message}`);
  return { events: r.events, verifyMs: round(ms, 1), verifyEventsPerSecond: round(r.events / (ms / 1000), 0), bulkAppendEventsPerSecond: round((AUDIT_EVENTS - have) / fillSeconds, 0) };
}

async function onPostgres() {
  const name = `belay_bench_${randomBytes(4).toString("hex")}`;
  const admin = openPg(PG_ADMIN, { max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  const db = openPg(url.toString());
  try {
    await migrate(db);
    return { runs: await benchRuns(db), audit: await benchVerify(db) };
  } finally {
    await db.close();
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.close();
  }
}

async function onPglite() {
  const db = await openPglite(null);
  try {
    await migrate(db);
    return { runs: await benchRuns(db), audit: await benchVerify(db) };
  } finally {
    await db.close();
  }
}

const result = {
  machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
  postgres: await onPostgres(),
  pglite: await onPglite(),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
