import { afterAll, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { loadDrills } from "../../src/drills/registry.ts";
import { runDrill, type DrillDeps } from "../../src/drills/runner.ts";
import { RehearsalWorld, withRehearsal } from "../../src/drills/simulation.ts";
import { insertDrillRun, setDrillStatus } from "../../src/drills/store.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { noTargets, testEngine } from "../helpers/engine.ts";
import { startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

/* A drill run that never injected tested nothing: it is kept out of the next report's trend. */
let store: TestStore;
let h: IngestHarness;
let world: RehearsalWorld;
let faults: ReturnType<typeof createDrillFaults>;

beforeAll(async () => {
  store = await openTestStore("pg", "drill_trend_notrun");
  world = new RehearsalWorld();
  faults = createDrillFaults({ redis: {} }, world);
  const playbooks = [...(await loadPlaybooks("playbooks")).values()];
  const { engine } = testEngine({ db: store.db, playbooks, targets: withRehearsal(noTargets, world) });
  h = await startIngest({ db: store.db, engine, playbooks, pagerduty: null, startWorker: true, startEngine: true });
});
afterAll(async () => {
  await h?.close();
  await faults?.close();
  await store?.close();
});

it("the trend leaves out earlier runs that never injected (failed before: a refused drill counted as a failed point)", async () => {
  const at = new Date(Date.now() - 3600_000);
  const stored = async (id: string, injected: boolean) => {
    await insertDrillRun(store.db, { id, drillId: "redis-unavailable", mode: "rehearsal", target: "cache", startedBy: "UDANA", owner: "t", leaseMs: 1000, now: at });
    const report = {
      status: "failed",
      scores: { detectS: injected ? 3 : null, acknowledgeS: null, approveS: null, recoverS: null },
      undo: injected ? [{ name: "stop-redis", undone: true, error: null }] : [],
      timeline: injected ? [{ at: at.toISOString(), t: 1, event: "injection.applied (SIMULATED)", detail: "stop-redis" }] : [],
    };
    await setDrillStatus(store.db, id, "failed", injected ? "probe error rate too high" : "refused before the injection", at, report);
  };
  await stored("drl_injected0001", true);
  await stored("drl_notrun000001", false);
  const drill = (await loadDrills("playbooks/drills")).get("redis-unavailable")!;
  const deps: DrillDeps = {
    db: store.db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets: withRehearsal(noTargets, world),
    faults,
    owner: newId("test"),
    tickMs: 100,
    simulatedUrl: () => world.serveStub(),
    sendAlert: async (payload) => (await h.postAm(payload)).status,
  };
  const report = await runDrill(deps, drill, { startedBy: "UDANA" });
  expect(report.trend.map((t) => t.drillRunId)).toEqual(["drl_injected0001"]);
}, 60_000);
