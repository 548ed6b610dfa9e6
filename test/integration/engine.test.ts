import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyChain, eventsForRun } from "../../src/audit/chain.ts";
import { brokenWhenPlaybook, fakeService, servicePlaybook, slowPlaybook } from "../fixtures/playbooks.ts";
import { ageApproval, alice, bob, carol, manualClock, testEngine } from "../helpers/engine.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

describe.each(["pglite", "pg"] as const)("engine on %s", (kind) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(kind, `engine_${kind}`);
  });
  afterAll(async () => {
    await store.close();
  });

  function setup(extra: Parameters<typeof testEngine>[0]["policy"] = {}) {
    const svc = fakeService();
    const clock = manualClock(new Date());
    const { engine, events } = testEngine({ db: store.db, playbooks: [servicePlaybook(svc), slowPlaybook, brokenWhenPlaybook], clock: clock.now, policy: extra });
    return { svc, clock, engine, events };
  }

  it("runs diagnostics at once, then stops at the first act step with its preview and waits for approval", async () => {
    const { svc, engine } = setup();
    const { runId, plan } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "cli" });
    expect(plan.steps.map((s) => [s.name, s.kind, s.risk])).toEqual([
      ["read-state", "diagnose", null],
      ["only-if-lru", "diagnose", null],
      ["set-policy", "act", "medium"],
      ["restart", "act", "high"],
      ["done", "notify", null],
    ]);
    expect(plan.steps[2]!.preview).toBeNull(); // reads an output that does not exist yet
    const view = await engine.drive(runId);
    expect(view.run.status).toBe("awaiting_approval");
    expect(view.steps.map((s) => s.status)).toEqual(["succeeded", "skipped", "awaiting_approval", "pending", "pending"]);
    expect(view.steps[2]!.preview).toBe("policy noeviction -> allkeys-lru");
    expect(view.steps[3]!.preview).toBe("restart api\n- restarts: n\n+ restarts: n+1");
    expect(view.run.planHash).not.toBe(plan.hash); // previews are part of the plan
    expect(svc.log).toEqual(["read-state"]);
    expect(svc.policy).toBe("noeviction");
  });

  it("runs an approved step, verifies it, and needs two other people for a high-risk step", async () => {
    const { svc, engine, events } = setup();
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "cli" });
    let view = await engine.drive(runId);
    const r1 = await engine.decide({ kind: "approve", runId, step: "set-policy", actor: bob, planHash: view.run.planHash });
    expect(r1).toMatchObject({ accepted: true, resumed: true });
    view = await engine.drive(runId);
    expect(svc.policy).toBe("allkeys-lru");
    expect(view.steps[2]!.status).toBe("succeeded");
    expect(view.run.status).toBe("awaiting_approval");
    expect(view.steps[3]!.status).toBe("awaiting_approval");

    const self = await engine.decide({ kind: "approve", runId, step: "restart", actor: alice, planHash: view.run.planHash });
    expect(self).toMatchObject({ accepted: false, code: "self_approval" });
    const first = await engine.decide({ kind: "approve", runId, step: "restart", actor: bob, planHash: view.run.planHash });
    expect(first).toMatchObject({ accepted: true, resumed: false });
    const again = await engine.decide({ kind: "approve", runId, step: "restart", actor: bob, planHash: view.run.planHash });
    expect(again).toMatchObject({ accepted: false, code: "already_approved" });
    view = await engine.drive(runId);
    expect(view.run.status).toBe("awaiting_approval"); // one approver is not enough for high risk
    expect(svc.restarts).toBe(0);
    const second = await engine.decide({ kind: "approve", runId, step: "restart", actor: carol, planHash: view.run.planHash });
    expect(second).toMatchObject({ accepted: true, resumed: true });
    view = await engine.drive(runId);
    expect(view.run.status).toBe("succeeded");
    expect(svc.restarts).toBe(1);
    expect(svc.log).toEqual(["read-state", "set-policy", "restart api"]);

    const kinds = (await eventsForRun(store.db, runId)).map((e) => `${e.kind}${e.step ? `:${e.step}` : ""}`);
    expect(kinds).toEqual([
      "run.proposed",
      "params.bound",
      "step.started:read-state",
      "step.succeeded:read-state",
      "step.skipped:only-if-lru",
      "step.previewed:set-policy",
      "step.previewed:restart",
      "step.awaiting_approval:set-policy",
      "step.approved:set-policy",
      "step.started:set-policy",
      "step.executed:set-policy",
      "step.verified:set-policy",
      "step.succeeded:set-policy",
      "step.awaiting_approval:restart",
      "approval.refused:restart",
      "step.approved:restart",
      "approval.refused:restart",
      "step.approved:restart",
      "step.started:restart",
      "step.executed:restart",
      "step.verified:restart",
      "step.succeeded:restart",
      "step.started:done",
      "step.succeeded:done",
      "notify.sent:done",
      "run.succeeded",
    ]);
    expect(events.length).toBe(kinds.length);
    const started = (await eventsForRun(store.db, runId)).find((e) => e.kind === "step.started" && e.step === "restart")!;
    expect(started.data.approvedBy).toEqual(["bob", "carol"]);
    expect((await verifyChain(store.db)).ok).toBe(true);
  });

  it("refuses an approval for a plan other than the current one, and an expired approval no longer counts", async () => {
    const { engine, clock } = setup();
    const { runId } = await engine.propose({ playbookId: "fix-service", params: {}, requestedBy: "alice", surface: "cli" });
    let view = await engine.drive(runId);
    const stale = await engine.decide({ kind: "approve", runId, step: "set-policy", actor: bob, planHash: "0".repeat(64) });
    expect(stale).toMatchObject({ accepted: false, code: "plan_changed" });
    await engine.decide({ kind: "approve", runId, step: "set-policy", actor: bob, planHash: view.run.planHash });
    await engine.drive(runId);
    view = await engine.view(runId);
    await engine.decide({ kind: "approve", runId, step: "restart", actor: bob, planHash: view.run.planHash });
    clock.advance(16 * 60_000); // this process's clock says bob's approval is old: that counts for nothing
    await ageApproval(store.db, runId, "bob", 16 * 60_000); // the database's clock does: past the 15-minute default
    await engine.decide({ kind: "approve", runId, step: "restart", actor: carol, planHash: view.run.planHash });
    view = await engine.drive(runId);
    expect(view.run.status).toBe("awaiting_approval");
    expect(view.run.statusReason).toMatch(/needs 1 more approval/);
    const lapsed = (await eventsForRun(store.db, runId)).filter((e) => e.kind === "approval.expired");
    expect(lapsed.length).toBeGreaterThanOrEqual(1);
    expect(lapsed[0]!.data.ignored).toEqual([{ actor: "bob", reason: expect.stringMatching(/^expired at /) }]);
    // bob's lapsed approval may be given again, and with carol's it is enough.
    expect(await engine.decide({ kind: "approve", runId, step: "restart", actor: bob, planHash: view.run.planHash })).toMatchObject({ accepted: true, resumed: true });
    expect((await engine.drive(runId)).run.status).toBe("succeeded");
  });

  it("rolls back when verify fails and stops the run as rolled_back", async () => {
    const { svc, engine } = setup();
    svc.verifyResult = false;
    const { runId } = await engine.propose({ playbookId: "fix-service", params: {}, requestedBy: "alice", surface: "cli" });
    let view = await engine.drive(runId);
    await engine.decide({ kind: "approve", runId, step: "set-policy", actor: bob, planHash: view.run.planHash });
    view = await engine.drive(runId);
    expect(view.run.status).toBe("rolled_back");
    expect(view.steps[2]!.status).toBe("rolled_back");
    expect(view.steps[3]!.status).toBe("pending");
    expect(svc.policy).toBe("noeviction");
    expect(svc.log).toEqual(["read-state", "set-policy", "rollback set-policy"]);
    const kinds = (await eventsForRun(store.db, runId)).map((e) => e.kind);
    expect(kinds.slice(-3)).toEqual(["step.verify_failed", "step.rolled_back", "run.rolled_back"]);
  });

  it("a deny stops the run; skip moves past a step; abort ends a waiting run", async () => {
    const { svc, engine } = setup();
    const a = await engine.propose({ playbookId: "fix-service", params: {}, requestedBy: "alice", surface: "cli" });
    let view = await engine.drive(a.runId);
    expect(await engine.decide({ kind: "deny", runId: a.runId, step: "set-policy", actor: bob, reason: "not now" })).toMatchObject({ accepted: true });
    expect((await engine.view(a.runId)).run).toMatchObject({ status: "aborted", statusReason: "set-policy denied by bob: not now" });

    const b = await engine.propose({ playbookId: "fix-service", params: {}, requestedBy: "alice", surface: "cli" });
    view = await engine.drive(b.runId);
    expect(await engine.decide({ kind: "skip", runId: b.runId, step: "set-policy", actor: bob })).toMatchObject({ accepted: true, resumed: true });
    view = await engine.drive(b.runId);
    expect(view.steps[2]!.status).toBe("skipped");
    expect(view.steps[3]!.status).toBe("awaiting_approval");
    expect(await engine.decide({ kind: "abort", runId: b.runId, actor: carol, reason: "drill over" })).toMatchObject({ accepted: true });
    view = await engine.view(b.runId);
    expect(view.run.status).toBe("aborted");
    expect(svc.policy).toBe("noeviction");
    expect(await engine.decide({ kind: "approve", runId: b.runId, step: "restart", actor: bob, planHash: view.run.planHash })).toMatchObject({
      accepted: false,
      code: "run_finished",
    });
  });

  it("aborting a run whose owner died mid-change keeps the change on record as uncertain", async () => {
    const { engine } = setup();
    const { runId } = await engine.propose({ playbookId: "fix-service", params: {}, requestedBy: "alice", surface: "cli" });
    const view = await engine.drive(runId);
    await engine.decide({ kind: "approve", runId, step: "set-policy", actor: bob, planHash: view.run.planHash });
    // A process claims the run, marks set-policy running, and dies: its lease lapsed 5 s ago,
    // more than a whole lease (2 s) ago, so nobody can still be working the step.
    const { claimRuns } = await import("../../src/store/runs.ts");
    expect(await claimRuns(store.db, { owner: "ghost", leaseMs: -5000, limit: 1, runId })).toHaveLength(1);
    await store.db.query("UPDATE steps SET status = 'running' WHERE run_id = $1 AND name = 'set-policy'", [runId]);
    expect(await engine.decide({ kind: "abort", runId, actor: carol })).toMatchObject({ accepted: true });
    const after = await engine.view(runId);
    expect(after.run.status).toBe("aborted");
    expect(after.steps[2]!.status).toBe("uncertain");
    const kinds = (await eventsForRun(store.db, runId)).map((e) => e.kind);
    expect(kinds.slice(-2)).toEqual(["step.uncertain", "run.aborted"]);
  });

  it("a process that lost its lease writes nothing more to the run", async () => {
    const svc = fakeService();
    let open!: () => void;
    svc.gate = new Promise((r) => (open = r));
    const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(svc)] });
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "stolen" }, requestedBy: "alice", surface: "cli" });
    const v = await engine.drive(runId);
    await engine.decide({ kind: "approve", runId, step: "set-policy", actor: bob, planHash: v.run.planHash });
    const working = engine.drive(runId); // parks inside set-policy until the gate opens
    await new Promise((r) => setTimeout(r, 300));
    // Another process takes the run over (as if this one had stalled past its lease).
    await store.db.query("UPDATE runs SET lease_owner = 'thief', lease_expires_at = now() + interval '1 hour' WHERE id = $1", [runId]);
    open();
    await new Promise((r) => setTimeout(r, 500));
    const after = await engine.view(runId);
    expect(svc.policy).toBe("allkeys-lru"); // the change itself happened...
    expect(after.run.leaseOwner).toBe("thief");
    expect(after.steps[2]!.status).toBe("running"); // ...but the old owner recorded nothing after losing the lease
    const kinds = (await eventsForRun(store.db, runId)).map((e) => `${e.kind}:${e.step}`);
    expect(kinds.at(-1)).toBe("step.started:set-policy");
    await store.db.query("UPDATE runs SET status = 'aborted', lease_owner = NULL WHERE id = $1", [runId]); // lets drive() return
    await working;
  });

  it("a second run on the same target waits for the lock and goes on when it is free", async () => {
    const svc = fakeService();
    let open!: () => void;
    svc.gate = new Promise((r) => (open = r));
    const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(svc)] });
    const one = await engine.propose({ playbookId: "fix-service", params: { name: "locked" }, requestedBy: "alice", surface: "cli" });
    const two = await engine.propose({ playbookId: "fix-service", params: { name: "locked" }, requestedBy: "alice", surface: "cli" });
    for (const r of [one, two]) {
      const v = await engine.drive(r.runId);
      await engine.decide({ kind: "approve", runId: r.runId, step: "set-policy", actor: bob, planHash: v.run.planHash });
    }
    const first = engine.drive(one.runId); // blocks inside set-policy until the gate opens
    await new Promise((r) => setTimeout(r, 300));
    // A second engine (another replica) works the second run while the first holds svc:locked.
    const { engine: engine2 } = testEngine({ db: store.db, playbooks: [servicePlaybook(svc)], owner: "other" });
    const p2 = engine2.drive(two.runId);
    await new Promise((r) => setTimeout(r, 500));
    const waiting = await engine.view(two.runId);
    expect(["waiting", "running"]).toContain(waiting.run.status);
    expect(waiting.steps[2]!.status).not.toBe("running");
    const ev = (await eventsForRun(store.db, two.runId)).map((e) => e.kind);
    expect(ev).toContain("lock.waited");
    open();
    await first;
    const after = await p2;
    expect(after.steps[2]!.status).toBe("succeeded");
  });

  // Secrets in the store, across every table: test/integration/secrets-sinks.test.ts.
  it("fails a diagnose that passes its timeout", async () => {
    const { engine } = setup();
    const slow = await engine.propose({ playbookId: "slow", params: {}, requestedBy: "alice", surface: "cli" });
    const v = await engine.drive(slow.runId);
    expect(v.run.status).toBe("failed");
    expect(v.steps[0]!.error).toMatch(/timed out after 100 ms/);
  });

  it("fails the run, saying why, when a step's condition throws", async () => {
    const { engine } = setup();
    const { runId } = await engine.propose({ playbookId: "broken-when", params: {}, requestedBy: "alice", surface: "cli" });
    const view = await engine.drive(runId);
    expect(view.run.status).toBe("failed");
    expect(view.run.statusReason).toMatch(/^the when condition of after failed: Cannot read properties of undefined/);
    expect(view.steps.map((s) => s.status)).toEqual(["skipped", "failed"]);
  });

  it("chains events whose text is not plain ASCII exactly as verify recomputes them", async () => {
    const { engine } = setup();
    const name = 'ünïcödé ☃ 🚀 "q" \\ \n\t\u0001\u2028 ende';
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name }, requestedBy: "zoë ☃", surface: "cli" });
    const view = await engine.drive(runId);
    expect(view.steps[0]!.output).toEqual({ policy: "noeviction", name });
    const chain = await verifyChain(store.db);
    expect(chain.ok, chain.broken?.message).toBe(true);
  });

  it("a dry run runs diagnostics and shows previews but changes nothing", async () => {
    const { svc, engine } = setup();
    const { runId } = await engine.propose({ playbookId: "fix-service", params: {}, requestedBy: "alice", surface: "cli", dryRun: true });
    const view = await engine.drive(runId);
    expect(view.run.status).toBe("previewed");
    expect(view.steps.map((s) => s.status)).toEqual(["succeeded", "skipped", "previewed", "previewed", "succeeded"]);
    expect(svc.log).toEqual(["read-state"]);
  });

  it("rejects bad params listing every bad field", async () => {
    const { engine } = setup();
    await expect(engine.propose({ playbookId: "fix-service", params: { limit: 0, name: 5, nope: 1 }, requestedBy: "alice", surface: "cli" })).rejects.toThrow(
      /invalid params for fix-service:\n {2}nope: unknown param.*\n {2}name .*\n {2}limit /s,
    );
    await expect(engine.propose({ playbookId: "nope", params: {}, requestedBy: "alice", surface: "cli" })).rejects.toThrow(/no playbook "nope"; known playbooks: broken-when, fix-service, slow/);
  });

  it("the database refuses to change or delete audit events", async () => {
    await expect(store.db.query("UPDATE audit_events SET actor = 'mallory'")).rejects.toMatchObject({ code: "42501" });
    await expect(store.db.query("DELETE FROM audit_events")).rejects.toMatchObject({ code: "42501" });
    await expect(store.db.query("TRUNCATE audit_events")).rejects.toMatchObject({ code: "42501" });
    expect((await verifyChain(store.db)).ok).toBe(true);
  });
});
