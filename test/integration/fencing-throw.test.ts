import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../src/audit/chain.ts";
import { BelayError } from "../../src/errors.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { bob, carol, testEngine } from "../helpers/engine.ts";

/**
 * An act step whose `run` throws may have changed the target before it threw (the server
 * applied the change, the reply was lost): like a timeout, the step is uncertain and keeps
 * its target locks until a person decides. Only an error known to come before any write
 * (bad input, a read-only target, bad params) fails the step and frees its locks.
 */
describe("a mutation that throws (Postgres)", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pg", "throws");
  });
  afterAll(async () => {
    await store.close();
  });
  const lockHolder = async (name: string) =>
    (await store.db.query<{ run_id: string }>("SELECT run_id FROM target_locks WHERE target = $1", [name])).rows[0]?.run_id ?? null;

  it("an act step whose run throws after it may have reached the target is uncertain and keeps its lock; a known pre-write refusal fails and frees it", async () => {
    const applied: string[] = [];
    const pb = playbook({ id: "throws", title: "Throws", summary: "A mutation that throws.", failureModes: [], params: z.object({ on: z.string(), how: z.enum(["lost-reply", "read-only"]) }) })
      .act("change", {
        risk: "low",
        permissions: ["t:write"],
        locks: ({ params }) => [`t:${params.on}`],
        preview: ({ params }) => `change ${params.on}`,
        run: ({ params }) => {
          if (params.how === "read-only") throw new BelayError("target.read_only", "the target refuses writes in this mode");
          applied.push(params.on); // the server applied it...
          throw new Error("socket hang up"); // ...and the reply was lost on the way back
        },
        verify: () => true,
        rollback: () => undefined,
      });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const propose = async (params: Record<string, unknown>) => {
      const { runId } = await engine.propose({ playbookId: "throws", params, requestedBy: "alice", surface: "cli" });
      const v = await engine.drive(runId);
      expect((await engine.decide({ kind: "approve", runId, step: "change", actor: bob, planHash: v.run.planHash })).accepted).toBe(true);
      return runId;
    };
    const a = await propose({ on: "threw", how: "lost-reply" });
    const va = await engine.drive(a);
    expect(va.run.status).toBe("awaiting_decision");
    expect(va.steps[0]!.status).toBe("uncertain");
    expect(va.run.statusReason).toMatch(/may be partly applied: (check the target, then )?choose retry, skip or abort/);
    expect(await lockHolder("t:threw")).toBe(a);
    expect((await eventsForRun(store.db, a)).some((e) => e.kind === "step.uncertain" && e.step === "change")).toBe(true);
    expect(applied).toEqual(["threw"]);

    const b = await propose({ on: "ro", how: "read-only" });
    const vb = await engine.drive(b);
    expect(vb.run.status).toBe("failed");
    expect(vb.steps[0]!.status).toBe("failed");
    expect(await lockHolder("t:ro")).toBeNull();
    expect((await engine.decide({ kind: "abort", runId: a, actor: carol })).accepted).toBe(true);
    expect(await lockHolder("t:threw")).toBeNull();
  });
  it("a rollback that throws may be partly applied: the step is uncertain and keeps its lock", async () => {
    const pb = playbook({ id: "rollback-throws", title: "Rollback throws", summary: "Verify fails; the rollback throws.", failureModes: [], params: z.object({ on: z.string() }) })
      .act("change", {
        risk: "low",
        permissions: ["t:write"],
        locks: ({ params }) => [`t:${params.on}`],
        preview: ({ params }) => `change ${params.on}`,
        run: () => ({ changed: true }),
        verify: () => ({ ok: false, detail: "the symptom is still there" }),
        rollback: () => {
          throw new Error("connection reset while restoring the old value");
        },
      });
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const { runId } = await engine.propose({ playbookId: "rollback-throws", params: { on: "rb" }, requestedBy: "alice", surface: "cli" });
    const v = await engine.drive(runId);
    expect((await engine.decide({ kind: "approve", runId, step: "change", actor: bob, planHash: v.run.planHash })).accepted).toBe(true);
    const after = await engine.drive(runId);
    expect(after.run.status).toBe("awaiting_decision");
    expect(after.steps[0]!.status).toBe("uncertain");
    expect(after.run.statusReason).toMatch(/^rollback of change failed \(connection reset while restoring the old value\); it may be partly applied/);
    expect(await lockHolder("t:rb")).toBe(runId);
    expect((await engine.decide({ kind: "abort", runId, actor: carol })).accepted).toBe(true);
    expect(await lockHolder("t:rb")).toBeNull();
  });
});
