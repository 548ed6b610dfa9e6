import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/execute/deps.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { recoverOrphanedDrills } from "../../src/drills/recover.ts";
import { runDrill, type DrillDeps } from "../../src/drills/runner.ts";
import { RehearsalWorld } from "../../src/drills/simulation.ts";
import { newId } from "../../src/ids.ts";
import { drill } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { noTargets } from "../helpers/engine.ts";
import { eventually } from "../helpers/slack.ts";

/*
 * Drill leases on the database's clock: a process whose clock is wrong neither writes a lease
 * that has already lapsed nor judges another's lease by its own time; a renewal that finds the
 * lease gone stops the drill and undoes it.
 */
const changes: string[] = [];
const held = drill({
  id: "lease-held",
  title: "A drill that holds its injection",
  mode: "rehearsal",
  hypothesis: "the drill holds its lease while it runs",
  target: { kind: "simulated", name: "nothing" },
  blastRadius: "a test array",
  alert: { alertname: "LeaseDrill", summary: "lease drill" },
  expect: { playbook: null, proposedWithinS: 20 },
  maxDurationS: 20,
}).inject("mark", {
  preview: () => "pushes to an array",
  capture: () => ({}),
  run: () => void changes.push("injected"),
  undo: () => void changes.push("undone"),
});

let store: TestStore;
beforeAll(async () => {
  store = await openTestStore("pglite", "drill_lease");
});
afterAll(async () => {
  await store.close();
});

const HOUR = 3_600_000;
function deps(clockSkewMs: number): DrillDeps {
  return {
    db: store.db,
    clock: () => new Date(Date.now() + clockSkewMs),
    newId,
    logger: silentLogger,
    targets: noTargets,
    faults: createDrillFaults({ redis: {} }, new RehearsalWorld()),
    owner: newId("test"),
    leaseMs: 3_000,
    tickMs: 50,
    sendAlert: async () => 202,
  };
}

describe("drill leases", () => {
  it("a drill whose process clock runs an hour behind is not taken for dead by a belay with the right clock", async () => {
    changes.length = 0;
    let id: string | null = null;
    const report = runDrill({ ...deps(-HOUR), progress: (l) => void (id ??= /^\[DRILL (\S+)\]/.exec(l)?.[1] ?? null) }, held, { startedBy: "alice" });
    await eventually(async () => changes.includes("injected"));
    const recovered = await recoverOrphanedDrills(deps(0), new Map([[held.id, held]]));
    expect(recovered).toEqual([]);
    expect(changes).toEqual(["injected"]);
    // ...and one whose clock runs an hour ahead does not take it either.
    expect(await recoverOrphanedDrills(deps(HOUR), new Map([[held.id, held]]))).toEqual([]);
    await store.db.query(`UPDATE drill_runs SET abort_requested = 'test' WHERE id = $1`, [id]);
    expect((await report).status).toBe("aborted");
    expect(changes).toEqual(["injected", "undone"]);
  });

  it("stops and undoes a drill whose lease another belay took over", async () => {
    changes.length = 0;
    let id: string | null = null;
    const started = Date.now();
    const report = runDrill({ ...deps(0), progress: (l) => void (id ??= /^\[DRILL (\S+)\]/.exec(l)?.[1] ?? null) }, held, { startedBy: "alice" });
    await eventually(async () => changes.includes("injected"));
    await store.db.query(`UPDATE drill_runs SET lease_owner = 'another-belay' WHERE id = $1`, [id]);
    const r = await report;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.status).toBe("aborted");
    expect(r.reason).toContain("lost its lease");
    expect(changes).toEqual(["injected", "undone"]);
  });
});
