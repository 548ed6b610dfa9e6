import { describeError } from "../errors.ts";
import type { StepRecord } from "../store/runs.ts";
import { LockBusy, type Fenced, type Next, type State } from "./fenced.ts";
import { waitForLock } from "./gate.ts";
import { verifyAndSettle } from "./steps.ts";

/**
 * After a crash, an act step found in flight: its target locks are re-taken under this
 * lease's epoch (or waited for) before anything else. Then a recorded change is verified
 * (and rolled back); a change or rollback that may or may not have happened is never
 * repeated: the step becomes uncertain, still holding its locks, and a person decides.
 */
export async function recover(f: Fenced, state: State, s: StepRecord, how: "reverify" | "uncertain"): Promise<Next> {
  const { run } = state;
  const def = state.pb.steps[s.idx]!;
  let keys: string[];
  try {
    keys = f.lockKeys(state, def);
  } catch (err) {
    if (how === "reverify") {
      await f.fail(run, s, `the locks of ${s.name} could not be computed: ${describeError(err)}`);
      return "stop";
    }
    keys = [];
  }
  try {
    if (how === "reverify") {
      await f.commit(
        run.id,
        async () => ({ events: keys.length ? [{ kind: "lock.retaken", actor: "belay", surface: "engine", step: s.name, data: { locks: keys, epoch: state.lease.epoch } }] : [] }),
        { acquire: keys },
      );
      // The mutation finished and was recorded; only verify (read-only) was cut short.
      return verifyAndSettle(f, state, s, def, f.rawOutput(state.mirror, s));
    }
    const what = s.status === "running" ? "its change may or may not have been applied" : "its rollback may or may not have been applied";
    await f.block(
      run,
      s,
      "uncertain",
      "awaiting_decision",
      run.abortRequested
        ? `step ${s.name} was interrupted: ${what}; ${run.abortRequested} asked to abort the run: check the target, then abort again (or skip)`
        : `step ${s.name} was interrupted: ${what}; choose retry, skip or abort`,
      { kind: "step.uncertain", actor: "belay", surface: "engine", step: s.name, data: { interrupted: s.status, attempts: s.attempts, locks: keys } },
      { acquire: keys },
    );
    return "stop";
  } catch (err) {
    if (err instanceof LockBusy) return waitForLock(f, run, s, err.heldBy);
    throw err;
  }
}
