import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/execute/deps.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import type { GateOutcome } from "../../src/drills/gate.ts";
import { runDrill, type DrillDeps } from "../../src/drills/runner.ts";
import { RehearsalWorld } from "../../src/drills/simulation.ts";
import { newId } from "../../src/ids.ts";
import { drill, type Drill } from "../../src/sdk/index.ts";
import type { Targets } from "../../src/targets/types.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

/*
 * What a drill's functions may touch, phase by phase: previews (run before anyone approved
 * the injection) get dry-run targets, captures and checks read-only ones, run and undo only
 * the targets marked drill: true; a rehearsal never gets real fault primitives.
 */

/** Every call a drill makes on its targets, as `name op args dryRun`. */
const calls: string[] = [];
const recordingTarget = (name: string) => ({
  name,
  configGet: async (p: string) => (calls.push(`${name} configGet ${p}`), "0"),
  configSet: async (p: string, v: string, o?: { dryRun?: boolean }) => {
    calls.push(`${name} configSet ${p}=${v} dryRun=${o?.dryRun === true}`);
    return { summary: `${p} -> ${v}`, dryRun: o?.dryRun === true };
  },
});
const recording = {
  redis: (name: string) => recordingTarget(name),
  postgres: (name: string) => {
    throw new Error(`no postgres ${name} here`);
  },
  kube: (name: string) => {
    throw new Error(`no kube ${name} here`);
  },
  prometheus: () => {
    throw new Error("no prometheus here");
  },
} as unknown as Targets;

// A key of this file's own on the shared Redis: the only thing a (wrong) rehearsal could write.
const REDIS_URL = "redis://127.0.0.1:6379/12";
const prefix = `belay-test:drill-targets:${randomBytes(4).toString("hex")}:`;
let store: TestStore;
let raw: Redis;
let faults: ReturnType<typeof createDrillFaults>;

beforeAll(async () => {
  store = await openTestStore("pglite", "drill_targets");
  raw = new Redis(REDIS_URL);
  faults = createDrillFaults({ redis: { scratch: { url: REDIS_URL, drill: true } } }, new RehearsalWorld());
});
afterAll(async () => {
  const keys = await raw.keys(`${prefix}*`);
  if (keys.length) await raw.del(...keys);
  raw.disconnect();
  await faults.close();
  await store.close();
});

function deps(approve: boolean, extra: Partial<DrillDeps> = {}): DrillDeps {
  return {
    db: store.db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets: recording,
    faults,
    drillTargets: { redis: ["cache"], postgres: [], kube: [] },
    owner: newId("test"),
    leaseMs: 900,
    tickMs: 50,
    sendAlert: async () => 202,
    approveInjection: async (): Promise<GateOutcome> => (approve ? { approved: true, runId: "run_gate", approvedBy: ["bob", "carol"] } : { approved: false, runId: "run_gate", reason: "not approved in this test" }),
    ...extra,
  };
}

const meta = {
  title: "phases",
  hypothesis: "a drill changes only what it was approved to change",
  target: { kind: "redis", name: "cache" },
  blastRadius: "a recording target",
  alert: { alertname: "PhaseDrill", summary: "phase drill" },
  expect: { playbook: null, proposedWithinS: 1 },
  maxDurationS: 1,
} as const;

const live = (id: string, spec: Parameters<Drill["inject"]>[1]) => drill({ ...meta, id, mode: "live" }).inject("change", spec);

describe("a drill's targets, by phase", () => {
  it("runs a live drill's preview on dry-run targets: nothing changes before the approval", async () => {
    calls.length = 0;
    const d = live("preview-dry", {
      preview: async ({ targets, target }) => (await targets.redis(target).configSet("maxmemory", "1mb", {})).summary,
      capture: () => ({}),
      run: () => undefined,
      undo: () => undefined,
    });
    const r = await runDrill(deps(false), d, { startedBy: "alice" });
    expect(r.status).toBe("aborted");
    expect(calls).toEqual(["cache configSet maxmemory=1mb dryRun=true"]);
  });

  it("gives capture read-only targets and read-only faults", async () => {
    calls.length = 0;
    const d = live("capture-ro", {
      preview: () => "x",
      capture: async ({ targets, target }) => targets.redis(target).configSet("maxmemory", "1mb"),
      run: () => undefined,
      undo: () => undefined,
    });
    const r = await runDrill(deps(true), d, { startedBy: "alice" });
    expect(r.status).toBe("failed");
    expect(r.reason).toContain("configSet changes redis 'cache' and is not available here");
    expect(calls).toEqual([]);
    const key = `${prefix}capture`;
    const d2 = live("capture-faults-ro", { preview: () => "x", capture: async ({ faults: f }) => f.redis("scratch").tryWrite(key, 60_000), run: () => undefined, undo: () => undefined });
    const r2 = await runDrill(deps(true), d2, { startedBy: "alice" });
    expect(r2.reason).toContain("faults.redis('scratch').tryWrite changes Redis and is not available in a drill's preview or capture");
    expect(await raw.exists(key)).toBe(0);
  });

  it("lets run and undo change only the targets marked drill: true", async () => {
    calls.length = 0;
    const d = live("run-marked", {
      preview: () => "x",
      capture: () => ({}),
      run: async ({ targets }) => {
        await targets.redis("cache").configSet("maxmemory", "1mb");
        await targets.redis("prod").configSet("maxmemory", "1mb");
      },
      undo: async ({ targets }) => void (await targets.redis("cache").configSet("maxmemory", "0")),
    });
    const r = await runDrill(deps(true), d, { startedBy: "alice" });
    expect(r.status).toBe("failed");
    expect(r.reason).toContain("redis target 'prod' is not marked for drills");
    expect(calls).toEqual(["cache configSet maxmemory=1mb dryRun=false", "cache configSet maxmemory=0 dryRun=false"]);
  });

  it("gives a rehearsal no real fault primitives, even against a target marked drill: true", async () => {
    const key = `${prefix}rehearsal`;
    const d = drill({ ...meta, id: "rehearsal-real", mode: "rehearsal", target: { kind: "redis", name: "scratch" } }).inject("real-write", {
      preview: () => "writes a key",
      capture: () => ({}),
      run: async ({ faults: f, target }) => {
        const w = await f.redis(target).tryWrite(key, 60_000);
        if (!w.ok) throw new Error(w.error ?? "write failed");
      },
      undo: () => undefined,
    });
    const r = await runDrill(deps(true, { approveInjection: undefined }), d, { startedBy: "alice" });
    expect(r.status).toBe("failed");
    expect(r.reason).toContain("a rehearsal changes nothing real");
    expect(await raw.exists(key)).toBe(0);
  });
});
