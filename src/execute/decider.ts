/**
 * The runner's decisions, without I/O: given what the store says (the run, its steps, the
 * approvals' verdict, the database's time), what happens next. The executor (runner.ts)
 * only carries these out, fenced by its lease epoch. Unit-tested in test/unit/decider.test.ts.
 */
import { isBelayError } from "../errors.ts";
import type { RunStatus, StepStatus } from "../store/runs.ts";
import type { StepKind } from "../sdk/types.ts";

export interface DeciderRun {
  status: RunStatus;
  dryRun: boolean;
  abortRequested: string | null;
}

export interface DeciderStep {
  idx: number;
  name: string;
  kind: StepKind;
  status: StepStatus;
}

/** Step statuses after which the step never runs again in this run. */
export const SETTLED: ReadonlySet<StepStatus> = new Set(["succeeded", "skipped", "previewed", "rolled_back", "failed"]);
/** A step some process was in the middle of. */
export const IN_FLIGHT: ReadonlySet<StepStatus> = new Set(["running", "verifying", "rolling_back"]);

export type NextAction =
  | { do: "finish"; status: "succeeded" | "previewed" | "aborted"; actor: string; reason: string | null }
  /** A read-only step was cut short: run it again. */
  | { do: "rerun"; step: DeciderStep }
  /** An act step's change was recorded but not verified: re-take its locks, then verify (and roll back). */
  | { do: "reverify"; step: DeciderStep }
  /** An act step's change (or rollback) may or may not have happened: re-take its locks and ask a person. */
  | { do: "uncertain"; step: DeciderStep; interrupted: StepStatus }
  /** An uncertain step waits for a person (retry, skip or abort): the runner never starts it by itself. */
  | { do: "await_decision"; step: DeciderStep }
  | { do: "start"; step: DeciderStep };

/** What the runner does next with a run it holds the lease of. */
export function nextAction(run: DeciderRun, steps: readonly DeciderStep[]): NextAction {
  const inFlight = steps.find((s) => IN_FLIGHT.has(s.status));
  // An abort waits for nothing except a change that may or may not have happened: that step
  // becomes uncertain (keeping its locks) and a person, told so, decides; the abort stands.
  if (run.abortRequested && !(inFlight && inFlight.kind === "act" && inFlight.status !== "verifying")) {
    return { do: "finish", status: "aborted", actor: run.abortRequested, reason: `aborted by ${run.abortRequested}` };
  }
  if (inFlight) {
    if (inFlight.kind !== "act") return { do: "rerun", step: inFlight };
    if (inFlight.status === "verifying") return { do: "reverify", step: inFlight };
    return { do: "uncertain", step: inFlight, interrupted: inFlight.status };
  }
  const next = steps.find((s) => !SETTLED.has(s.status));
  if (!next) return { do: "finish", status: run.dryRun ? "previewed" : "succeeded", actor: "belay", reason: null };
  if (next.status === "uncertain") return { do: "await_decision", step: next };
  return { do: "start", step: next };
}

/** How an act step's mutation ended. */
export type RunOutcome = "returned" | "timed_out" | "refused" | "threw" | "lease_lost";

/**
 * Errors known to be raised before a mutation reaches its target: bad input, a target in a
 * read-only mode, bad params. Anything else an act step's `run` throws may have come after
 * the server applied the change (a lost reply, a dropped connection, a client-side bug).
 */
export const PRE_WRITE_ERRORS: ReadonlySet<string> = new Set(["input.invalid", "target.read_only", "params.invalid"]);

/** What an act step's `run` ending in `err` means (err undefined: it returned). */
export function mutationOutcome(err: unknown, g: { leaseLost: boolean }): RunOutcome {
  if (err === undefined) return "returned";
  if (g.leaseLost) return "lease_lost";
  if (isBelayError(err, "step.timeout")) return "timed_out";
  if (isBelayError(err) && PRE_WRITE_ERRORS.has(err.code)) return "refused";
  return "threw";
}

/**
 * What follows an act step's mutation. One that timed out may still be running, and one that
 * threw may have been applied before it threw: the step becomes uncertain and KEEPS its
 * target locks until a person decides. Only a refusal known to come before any write
 * settles the step as failed. A lost lease writes nothing (the new owner recovers the step).
 */
export function afterMutation(outcome: RunOutcome): { step: StepStatus | null; keepLocks: boolean; runStatus: RunStatus | null } {
  switch (outcome) {
    case "returned":
      return { step: "verifying", keepLocks: true, runStatus: null };
    case "timed_out":
    case "threw":
      return { step: "uncertain", keepLocks: true, runStatus: "awaiting_decision" };
    case "refused":
      return { step: "failed", keepLocks: false, runStatus: "failed" };
    case "lease_lost":
      return { step: null, keepLocks: true, runStatus: null };
  }
}

/** What follows verify (and, when it failed, rollback). Every outcome here settles the step. */
export function afterVerify(verified: boolean, rollback: "none" | "ok" | "failed" | "threw" | "timed_out" | null): { step: StepStatus; runStatus: RunStatus | null; keepLocks: boolean } {
  if (verified) return { step: "succeeded", runStatus: null, keepLocks: false };
  if (rollback === "ok") return { step: "rolled_back", runStatus: "rolled_back", keepLocks: false };
  // A rollback that timed out may still be running, and one that threw may be partly applied:
  // the step is uncertain and keeps its locks until a person decides. Only a rollback refused
  // before any write ("failed") settles the step.
  if (rollback === "timed_out" || rollback === "threw") return { step: "uncertain", runStatus: "awaiting_decision", keepLocks: true };
  return { step: "failed", runStatus: "failed", keepLocks: false };
}

/** The act gate: approvals first, then locks; only then may the step start. */
export function actGate(g: { dryRun: boolean; approved: boolean }): "preview_only" | "await_approval" | "take_locks" {
  if (g.dryRun) return "preview_only";
  if (!g.approved) return "await_approval";
  return "take_locks";
}
