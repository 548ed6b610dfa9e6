import { afterAll, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { loadDrills } from "../../src/drills/registry.ts";
import { drillReportMarkdown } from "../../src/drills/report.ts";
import { runDrill, type DrillDeps } from "../../src/drills/runner.ts";
import { RehearsalWorld, withRehearsal } from "../../src/drills/simulation.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { noTargets, testEngine } from "../helpers/engine.ts";
import { startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { personAt } from "../helpers/engine.ts";

/*
 * Rehearsals: the real playbook library, the real webhook and triage, approvals through the
 * engine's policy, and a simulated cluster whose every effect is labelled SIMULATED.
 */
let store: TestStore;
let h: IngestHarness;
let world: RehearsalWorld;
let faults: ReturnType<typeof createDrillFaults>;

beforeAll(async () => {
  store = await openTestStore("pg", "drill_rehearsal");
  world = new RehearsalWorld();
  faults = createDrillFaults({ redis: {} }, world);
  const playbooks = [...(await loadPlaybooks("playbooks")).values()];
  const { engine } = testEngine({ db: store.db, playbooks, targets: withRehearsal(noTargets, world) });
  h = await startIngest({ db: store.db, engine, playbooks, pagerduty: null, startWorker: true, startEngine: true });
});
afterAll(async () => {
  await h.close();
  await faults.close();
  await store.close();
});

function deps(): DrillDeps {
  return {
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
    // The scripted on-call approves the proposal as soon as it waits.
    progress: (line) => {
      const m = /run\.proposed: \S+ \(run (\S+)\)/.exec(line);
      if (m) void approveWhenWaiting(m[1]!);
    },
  };
}

async function approveWhenWaiting(runId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const v = await h.engine.view(runId);
    if (v.run.status === "awaiting_approval") {
      const step = v.steps.find((s) => s.status === "awaiting_approval")!;
      await h.engine.decide({ kind: "approve", runId, step: step.name, actor: personAt("UDANA", "slack"), planHash: v.run.planHash });
      return;
    }
    if (h.engine.isTerminal(v.run)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

it("slow-dependency rehearsal: +100 ms on the dependency, judged against the SLO (p95, error rate) from the real HTTP probe; triaged, no restart claimed", async () => {
  const drill = (await loadDrills("playbooks/drills")).get("slow-dependency")!;
  const report = await runDrill(deps(), drill, { startedBy: "UDANA" });
  expect(report.criteria.map((c) => [c.name, c.ok]), JSON.stringify(report.criteria)).toEqual([
    ["triaged, no playbook claimed", true],
    ["probe error rate", true],
    ["probe p95 latency", true],
  ]);
  expect(report.status).toBe("passed");
  // The latency is real: every answer took the injected 100 ms, inside the 250 ms SLO.
  expect(report.probe!.requests).toBeGreaterThan(5);
  expect(report.probe!.p95Ms!).toBeGreaterThanOrEqual(95);
  expect(report.probe!.p95Ms!).toBeLessThanOrEqual(250);
  expect(report.probe!.errorRate).toBe(0);
  expect(report.simulated).toEqual(expect.arrayContaining(["SIMULATED: fault degraded on shop/api"]));
  expect(drillReportMarkdown(report)).toContain("**REHEARSAL** — effects simulated");
  expect(world.faultOf("shop/api")).toBeNull();
}, 30_000);

it("network-partition rehearsal: triaged with no playbook claimed, the API fails fast under the partition", async () => {
  const drill = (await loadDrills("playbooks/drills")).get("network-partition")!;
  const report = await runDrill(deps(), drill, { startedBy: "UDANA" });
  expect(report.criteria.map((c) => [c.name, c.ok])).toEqual([
    ["triaged, no playbook claimed", true],
    ["probe p95 latency", true],
  ]);
  expect(report.status).toBe("passed");
  expect(report.probe!.errorRate).toBeGreaterThan(0.5);
  expect(world.faultOf("shop/api")).toBeNull();
}, 30_000);
