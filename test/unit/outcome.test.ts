import { describe, expect, it } from "vitest";
import { outcomeLine, runOutcome, type OutcomeEvent } from "../../src/execute/outcome.ts";

const ev = (kind: string, step: string | null, data: Record<string, unknown> = {}, actor = "belay", surface = "engine"): OutcomeEvent => ({ kind, step, actor, surface, data });
const done = { status: "succeeded", statusReason: null };

describe("runOutcome", () => {
  it("a run whose act steps were all skipped by their own conditions is 'nothing needed', not a fix, and says which conditions", () => {
    const o = runOutcome(
      done,
      [
        { name: "connections", kind: "diagnose", status: "succeeded" },
        { name: "terminate", kind: "act", status: "skipped" },
        { name: "follow-up", kind: "notify", status: "succeeded" },
      ],
      [ev("step.skipped", "terminate", { reason: "no session idle in transaction for 10 min or more", by: "condition" })],
    );
    expect(o.kind).toBe("nothing_needed");
    expect(o.fixed).toBe(false);
    expect(o.reasons).toEqual(["terminate not needed: no session idle in transaction for 10 min or more"]);
    expect(outcomeLine(o)).toBe("nothing needed, nothing changed — terminate not needed: no session idle in transaction for 10 min or more");
  });

  it("a verified change is 'changed and verified', with verify's detail", () => {
    const o = runOutcome(done, [{ name: "set-policy", kind: "act", status: "succeeded" }], [ev("step.verified", "set-policy", { detail: "maxmemory-policy allkeys-lru" })]);
    expect(o).toMatchObject({ kind: "changed", fixed: true, changed: ["set-policy"], reasons: ["set-policy changed and verified: maxmemory-policy allkeys-lru"] });
  });

  it("a change a person skipped is 'skipped by a person', naming them", () => {
    const o = runOutcome(done, [{ name: "kill-idle", kind: "act", status: "skipped" }], [ev("step.skipped", "kill-idle", { reason: "skipped by U123", was: "awaiting_approval" }, "U123", "slack")]);
    expect(o).toMatchObject({ kind: "skipped_by_person", fixed: false, reasons: ["kill-idle skipped by U123"] });
  });

  it("an interrupted change a person skipped is not 'nothing changed': it may have been applied", () => {
    const o = runOutcome(done, [{ name: "kill-idle", kind: "act", status: "skipped" }], [ev("step.skipped", "kill-idle", { reason: "skipped by alice", was: "uncertain" }, "alice", "cli")]);
    expect(o.kind).toBe("skipped_by_person");
    expect(o.fixed).toBe(false);
    expect(o.label).not.toMatch(/nothing changed/);
    expect(o.label).toBe("skipped by a person after it was interrupted: may have changed something");
    expect(o.reasons).toEqual(["kill-idle skipped by alice after it was interrupted (its change may have been applied: check the target)"]);
  });

  it("one change verified and another skipped by its condition is a fix that says both", () => {
    const o = runOutcome(
      done,
      [
        { name: "cordon", kind: "act", status: "skipped" },
        { name: "drain", kind: "act", status: "succeeded" },
      ],
      [ev("step.skipped", "cordon", { reason: "the node is already cordoned", by: "condition" }), ev("step.verified", "drain", {})],
    );
    expect(o.kind).toBe("changed");
    expect(o.reasons).toEqual(["drain changed and verified", "cordon not needed: the node is already cordoned"]);
  });

  it("failed, rolled back, aborted and in-progress runs say so with the run's reason", () => {
    const acts = [{ name: "x", kind: "act", status: "failed" }];
    expect(runOutcome({ status: "failed", statusReason: "step connections failed: connect ECONNREFUSED" }, acts, [])).toMatchObject({ kind: "failed", label: "failed", reasons: ["step connections failed: connect ECONNREFUSED"], fixed: false });
    expect(runOutcome({ status: "rolled_back", statusReason: "verify of x failed (no); rolled back" }, [{ name: "x", kind: "act", status: "rolled_back" }], [])).toMatchObject({ kind: "rolled_back", fixed: false });
    expect(runOutcome({ status: "aborted", statusReason: "aborted by bob" }, [{ name: "x", kind: "act", status: "pending" }], [])).toMatchObject({ kind: "aborted", label: "aborted, nothing changed" });
    expect(runOutcome({ status: "awaiting_approval", statusReason: "needs 1 more approval" }, [{ name: "x", kind: "act", status: "awaiting_approval" }], [])).toMatchObject({ kind: "in_progress", label: "waiting for approval" });
    expect(runOutcome({ status: "failed", statusReason: "verify of y failed" }, [{ name: "x", kind: "act", status: "succeeded" }, { name: "y", kind: "act", status: "failed" }], [])).toMatchObject({ kind: "failed", label: "failed after changing something", fixed: false });
  });

  it("a playbook with no act step is 'diagnosed only'; a dry run changed nothing", () => {
    expect(runOutcome(done, [{ name: "pods", kind: "diagnose", status: "succeeded" }], []).kind).toBe("diagnosed");
    expect(runOutcome({ status: "previewed", statusReason: null }, [{ name: "x", kind: "act", status: "previewed" }], []).kind).toBe("previewed");
  });

  it("a step skipped before skip reasons existed (belay, engine, the fixed text) counts as its condition's", () => {
    const o = runOutcome(done, [{ name: "x", kind: "act", status: "skipped" }], [ev("step.skipped", "x", { reason: "its when condition is false" })]);
    expect(o.kind).toBe("nothing_needed");
  });
});
