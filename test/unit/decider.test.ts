import { describe, expect, it } from "vitest";
import { BelayError } from "../../src/errors.ts";
import { actGate, afterMutation, afterVerify, mutationOutcome, nextAction, type DeciderStep } from "../../src/execute/decider.ts";

/** The runner's decisions without I/O: each case of issue 9 as a line or two. */
const step = (idx: number, kind: DeciderStep["kind"], status: DeciderStep["status"]): DeciderStep => ({ idx, name: `s${idx}`, kind, status });
const run = { status: "running" as const, dryRun: false, abortRequested: null };

describe("nextAction", () => {
  it("starts the first step that has not settled", () => {
    expect(nextAction(run, [step(0, "diagnose", "succeeded"), step(1, "act", "pending"), step(2, "act", "pending")])).toEqual({ do: "start", step: step(1, "act", "pending") });
  });

  it("finishes a run whose steps all settled: succeeded, or previewed for a dry run", () => {
    const steps = [step(0, "diagnose", "succeeded"), step(1, "act", "skipped"), step(2, "act", "rolled_back")];
    expect(nextAction(run, steps)).toMatchObject({ do: "finish", status: "succeeded" });
    expect(nextAction({ ...run, dryRun: true }, steps)).toMatchObject({ do: "finish", status: "previewed" });
  });

  it("an abort request wins over everything, and names who asked", () => {
    expect(nextAction({ ...run, abortRequested: "carol" }, [step(0, "act", "pending")])).toEqual({ do: "finish", status: "aborted", actor: "carol", reason: "aborted by carol" });
  });

  it("an abort request does not settle a change that may or may not have happened: that step becomes uncertain first", () => {
    const aborting = { ...run, abortRequested: "carol" };
    expect(nextAction(aborting, [step(0, "act", "running")])).toMatchObject({ do: "uncertain", interrupted: "running" });
    expect(nextAction(aborting, [step(0, "act", "rolling_back")])).toMatchObject({ do: "uncertain", interrupted: "rolling_back" });
    expect(nextAction(aborting, [step(0, "act", "verifying")])).toMatchObject({ do: "finish", status: "aborted" });
    expect(nextAction(aborting, [step(0, "diagnose", "running")])).toMatchObject({ do: "finish", status: "aborted" });
    expect(nextAction(aborting, [step(0, "act", "uncertain")])).toMatchObject({ do: "finish", status: "aborted" });
  });

  it("a read-only step cut short runs again", () => {
    expect(nextAction(run, [step(0, "diagnose", "running")])).toMatchObject({ do: "rerun", step: { idx: 0 } });
  });

  it("an act step recovered in verifying is re-verified (after its locks are re-taken), never re-run", () => {
    expect(nextAction(run, [step(0, "act", "verifying")])).toMatchObject({ do: "reverify", step: { idx: 0 } });
  });

  it("an act step interrupted while running or rolling back becomes uncertain: a step never runs twice", () => {
    expect(nextAction(run, [step(0, "act", "running")])).toMatchObject({ do: "uncertain", interrupted: "running" });
    expect(nextAction(run, [step(0, "act", "rolling_back")])).toMatchObject({ do: "uncertain", interrupted: "rolling_back" });
  });

  it("an uncertain step is never started by the runner: it waits for a person's retry, skip or abort", () => {
    expect(nextAction(run, [step(0, "diagnose", "succeeded"), step(1, "act", "uncertain"), step(2, "act", "pending")])).toEqual({ do: "await_decision", step: step(1, "act", "uncertain") });
  });
});

describe("locks follow the step, not the lease", () => {
  it("a timed-out mutation is uncertain and keeps its locks (it may still be running)", () => {
    expect(afterMutation("timed_out")).toEqual({ step: "uncertain", keepLocks: true, runStatus: "awaiting_decision" });
  });

  it("a lost lease writes nothing and gives nothing back: the next owner recovers the step", () => {
    expect(afterMutation("lease_lost")).toEqual({ step: null, keepLocks: true, runStatus: null });
  });

  it("a returned mutation is verified still holding its locks", () => {
    expect(afterMutation("returned")).toMatchObject({ step: "verifying", keepLocks: true });
  });

  it("a mutation that threw may have been applied: uncertain, locks kept; only a known pre-write refusal fails and releases them", () => {
    expect(afterMutation("threw")).toEqual({ step: "uncertain", keepLocks: true, runStatus: "awaiting_decision" });
    expect(afterMutation("refused")).toEqual({ step: "failed", keepLocks: false, runStatus: "failed" });
  });

  it("classifies how a mutation ended: a lost lease first, then a timeout, then pre-write refusals; anything else threw", () => {
    expect(mutationOutcome(undefined, { leaseLost: false })).toBe("returned");
    expect(mutationOutcome(new BelayError("step.timeout", "t"), { leaseLost: true })).toBe("lease_lost");
    expect(mutationOutcome(new BelayError("step.timeout", "t"), { leaseLost: false })).toBe("timed_out");
    for (const code of ["input.invalid", "target.read_only", "params.invalid"] as const) expect(mutationOutcome(new BelayError(code, "x"), { leaseLost: false })).toBe("refused");
    expect(mutationOutcome(new BelayError("target.failed", "x"), { leaseLost: false })).toBe("threw");
    expect(mutationOutcome(new Error("socket hang up"), { leaseLost: false })).toBe("threw");
    expect(mutationOutcome("a string", { leaseLost: false })).toBe("threw");
  });

  it("verify and rollback settle the step and release its locks, except a rollback that timed out", () => {
    expect(afterVerify(true, null)).toEqual({ step: "succeeded", runStatus: null, keepLocks: false });
    expect(afterVerify(false, "ok")).toMatchObject({ step: "rolled_back", keepLocks: false });
    expect(afterVerify(false, "failed")).toMatchObject({ step: "failed", keepLocks: false });
    expect(afterVerify(false, "timed_out")).toMatchObject({ step: "uncertain", keepLocks: true });
    // A rollback that threw may have been partly applied, like one that timed out: a person decides, the locks stay.
    expect(afterVerify(false, "threw")).toMatchObject({ step: "uncertain", runStatus: "awaiting_decision", keepLocks: true });
  });
});

describe("actGate", () => {
  it("approvals before locks; a dry run only previews", () => {
    expect(actGate({ dryRun: true, approved: true })).toBe("preview_only");
    expect(actGate({ dryRun: false, approved: false })).toBe("await_approval");
    expect(actGate({ dryRun: false, approved: true })).toBe("take_locks");
  });
});
