import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../src/audit/chain.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import type { Engine } from "../../src/execute/engine.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { approvalPolicySchema } from "../../src/approve/policy.ts";
import { refuseDrillStarter } from "../../src/drills/authority.ts";
import { awaitInjectionApproval, drillGatePlaybook } from "../../src/drills/gate.ts";
import { People, principalFromTerminal } from "../../src/identity/index.ts";
import { runDrill, type DrillDeps } from "../../src/drills/runner.ts";
import { RehearsalWorld } from "../../src/drills/simulation.ts";
import { newId } from "../../src/ids.ts";
import { drill } from "../../src/sdk/index.ts";
import { getRun } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { noTargets, personAt, testEngine } from "../helpers/engine.ts";
import { eventually } from "../helpers/slack.ts";

/** What the live drill's injection did to the (pretend) system. */
const changes: string[] = [];
const liveDrill = drill({
  id: "gated-live",
  title: "A live drill behind an approval",
  mode: "live",
  hypothesis: "nothing is injected until the injection is approved",
  target: { kind: "http", name: "staging" },
  blastRadius: "a test array",
  alert: { alertname: "GatedDrill", summary: "gated drill" },
  expect: { playbook: null, proposedWithinS: 1 },
  maxDurationS: 2,
}).inject("break-it", {
  description: "records that it ran",
  preview: ({ target }) => `break ${target}`,
  capture: () => ({}),
  run: () => void changes.push("injected"),
  undo: () => void changes.push("undone"),
});

let store: TestStore;
let engine: Engine;

beforeAll(async () => {
  store = await openTestStore("pglite", "drill_gate");
  engine = testEngine({ db: store.db, playbooks: [drillGatePlaybook] }).engine;
  engine.start();
});
afterAll(async () => {
  await engine.stop();
  await store.close();
});

function deps(): DrillDeps {
  return {
    db: store.db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets: noTargets,
    faults: createDrillFaults({ redis: {} }, new RehearsalWorld()),
    owner: newId("test"),
    leaseMs: 900,
    tickMs: 50,
    sendAlert: async () => 202,
    approveInjection: (input) => awaitInjectionApproval(engine, { ...input, clock: () => new Date(), timeoutMs: 20_000, pollMs: 20 }),
  };
}

/** Starts the drill as alice; resolves with the gate run once it waits for approval. */
async function startGated(): Promise<{ gate: string; report: ReturnType<typeof runDrill> }> {
  let gate: string | null = null;
  const report = runDrill(deps(), liveDrill, { startedBy: "alice", onGate: (runId) => (gate = runId) });
  await eventually(async () => gate !== null && (await getRun(store.db, gate))!.status === "awaiting_approval");
  return { gate: gate!, report };
}

const approve = async (runId: string, who: string) => engine.decide({ kind: "approve", runId, step: "inject", actor: personAt(who), planHash: (await getRun(store.db, runId))!.planHash });

describe("a live drill's injection is a high-risk step", () => {
  it("injects nothing while the approvals are short, and nothing at all when denied", async () => {
    changes.length = 0;
    const { gate, report } = await startGated();
    expect(await approve(gate, "alice")).toMatchObject({ accepted: false, code: "self_approval" });
    expect(await approve(gate, "bob")).toMatchObject({ accepted: true, resumed: false });
    await new Promise((r) => setTimeout(r, 200));
    expect(changes).toEqual([]);
    await engine.decide({ kind: "deny", runId: gate, step: "inject", actor: personAt("carol"), reason: "not during the sale" });
    const r = await report;
    expect(r.status).toBe("aborted");
    expect(r.reason).toMatch(/^the injection was not approved \(aborted: inject denied by carol: not during the sale\)$/);
    expect(changes).toEqual([]);
    const kinds = (await eventsForRun(store.db, gate)).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(["run.proposed", "approval.refused", "step.approved", "step.denied", "run.aborted"]));
    const injected = await store.db.query(`SELECT 1 FROM audit_events WHERE kind = 'drill.injected' AND data LIKE $1`, [`%${r.drillRunId}%`]);
    expect(injected.rows).toEqual([]);
  });

  it("injects once two people other than the starter approved, and the injection and undo follow the approvals in the chain", async () => {
    changes.length = 0;
    const { gate, report } = await startGated();
    expect(await approve(gate, "bob")).toMatchObject({ accepted: true });
    expect(await approve(gate, "carol")).toMatchObject({ accepted: true, resumed: true });
    const r = await report;
    expect(changes).toEqual(["injected", "undone"]);
    expect(r.timeline.map((t) => t.event)).toEqual(expect.arrayContaining(["injection.approval_requested", "injection.approved", "injection.applied", "injection.undone"]));
    const chain = await store.db.query<{ seq: number; kind: string; run_id: string | null; data: string }>(
      `SELECT seq, kind, run_id, data FROM audit_events WHERE run_id = $1 OR (kind LIKE 'drill.%' AND data LIKE $2) ORDER BY seq`,
      [gate, `%${r.drillRunId}%`],
    );
    const kinds = chain.rows.map((x) => x.kind);
    expect(kinds.indexOf("run.succeeded")).toBeLessThan(kinds.indexOf("drill.injected"));
    expect(kinds.filter((k) => k.startsWith("drill."))).toEqual(["drill.injected", "drill.undone"]);
  });
});

describe("who may start a live drill", () => {
  it("needs high-risk approval authority, never borrowed through break-glass the config does not allow; refusals are audited", async () => {
    const people = new People({ carol: { login: "carol" }, mia: { login: "mia" }, ops: { login: "ops" } });
    const policy = approvalPolicySchema.parse({ risks: { high: { users: ["carol"] } }, breakGlass: { allowed: ["ops"] } });
    const at = (login: string, as?: string) => principalFromTerminal(people, { login, host: "h" }, { as, reason: as ? "on call" : undefined, breakGlass: policy.breakGlass });
    const d = { db: store.db, policy, clock: () => new Date(), newId };
    expect(await refuseDrillStarter(d, liveDrill, at("carol"))).toBeNull();
    expect(await refuseDrillStarter(d, liveDrill, at("mia"))).toBe("mia may not start live drill gated-live: it injects a fault into a real system, which needs the authority to approve high-risk steps");
    expect(await refuseDrillStarter(d, liveDrill, at("mia", "carol"))).toContain("mia (login mia) may not act for carol: break-glass is configured and only ops may");
    expect(await refuseDrillStarter(d, liveDrill, at("ops", "carol"))).toBeNull();
    const rehearsal = drill({ ...liveDrill.meta, id: "gated-rehearsal", mode: "rehearsal" });
    expect(await refuseDrillStarter(d, rehearsal, at("mia"))).toBeNull();
    const audited = await store.db.query<{ actor: string; data: string }>(`SELECT actor, data FROM audit_events WHERE kind = 'drill.refused' ORDER BY seq`);
    expect(audited.rows.map((r) => [r.actor, JSON.parse(r.data).code])).toEqual([
      ["mia", "not_an_approver"],
      ["carol", "break_glass_refused"],
    ]);
  });
});
