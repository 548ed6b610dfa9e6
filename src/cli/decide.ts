import type { Engine, RunView } from "../execute/engine.ts";
import type { Principal } from "../identity/principal.ts";
import { openCore } from "../main.ts";
import { driveInteractively } from "./run.ts";
import { GROUP_FLAG_GONE, terminalPrincipal } from "./identity.ts";
import { configFrom, splitIo, UsageError, type CliIo } from "./io.ts";
import type { DecideOptions } from "./options.ts";
import { resolveId, resolvePlanHash } from "./resolve.ts";

/**
 * Decisions from a terminal, for when Slack is down: made as the OS login (through
 * `people:`), audited with surface `cli`. `--as` is break-glass. `approve` shows the step's
 * preview and the plan hash, and binds to that plan only once the approver confirmed it
 * (`y`) or named it (`--plan HASH`, the whole hash or a prefix of 7 characters or more): a
 * plan that changed in between is refused, never approved unseen.
 */
export async function decideCommand(kind: "approve" | "deny" | "skip" | "retry" | "abort", runRef: string, step: string | null, o: DecideOptions, rawIo: CliIo): Promise<number> {
  if (o.group !== undefined) throw new UsageError(GROUP_FLAG_GONE);
  const { human: io, json } = splitIo(rawIo, Boolean(o.json));
  const config = configFrom(io);
  const actor = await terminalPrincipal(io, config, { as: o.as, reason: o.reason });
  // With --as, --reason is the break-glass reason; it is the decision's reason too.
  const reason = o.reason ? { reason: o.reason } : {};
  const core = await openCore(config, { command: `belay ${kind} ${runRef}`, logLevel: "warn", logDestination: io.logWriter() });
  try {
    const runId = (await resolveId(core.db, "run", runRef)) ?? runRef;
    core.addNotifier(async (r, message) => {
      if (r.id === runId) io.out(`notify: ${message}`);
    });
    const view = await core.engine.view(runId);
    const r =
      kind === "abort"
        ? await core.engine.decide({ kind, runId, actor, ...reason })
        : kind === "approve"
          ? await approveShown(core.engine, view, step!, actor, o.plan, io)
          : kind === "deny" || kind === "skip"
            ? await core.engine.decide({ kind, runId, step: step!, actor, ...reason })
            : await core.engine.decide({ kind, runId, step: step!, actor });
    const result = async (accepted: boolean, message: string, code: number) => {
      if (o.json) json({ decision: kind, accepted, message, run: await core.engine.view(runId) });
      return code;
    };
    if (r === null) return await result(false, "not approved", 1);
    (r.accepted ? io.out : io.err)(r.accepted ? r.message : `refused: ${r.message}`);
    if (!r.accepted) return await result(false, r.message, 1);
    // With the embedded store no server can be working the run at the same time, so this
    // process carries it on; with Postgres, a running `belay serve` picks it up as well.
    if (r.resumed && o.wait !== false) {
      const code = await driveInteractively(core.engine, runId, await terminalPrincipal(io, config), io, config);
      return await result(true, r.message, code === 3 ? 0 : code); // parked at the next approval: this decision itself succeeded
    }
    return await result(true, r.message, 0);
  } finally {
    await core.close();
  }
}

/**
 * Shows the step's preview and plan hash, then approves exactly that plan: the one `--plan`
 * names, or the one shown once the approver answers y. Null: nothing was approved (said why).
 */
async function approveShown(engine: Engine, view: RunView, stepRef: string, actor: Principal, plan: string | undefined, io: CliIo): Promise<Awaited<ReturnType<Engine["decide"]>> | null> {
  const { run } = view;
  const s = view.steps.find((x) => x.name === stepRef || String(x.idx) === stepRef);
  const decide = (planHash: string) => engine.decide({ kind: "approve", runId: run.id, step: stepRef, actor, planHash });
  // Nothing waits for an approval (no such step, a finished run): the engine says why.
  if (!s || s.status !== "awaiting_approval" || run.status !== "awaiting_approval") return decide(plan ?? run.planHash);
  io.out(`Step ${s.name} of run ${run.id} (${run.playbookId}, ${s.risk ?? "low"} risk) will:\n${s.preview ?? "(no preview recorded)"}\nplan ${run.planHash}`);
  if (plan !== undefined) {
    // A prefix (7+ characters) names the current plan; anything else is compared whole, and refused if stale.
    return decide(resolvePlanHash(run.planHash, plan));
  }
  const answer = (await io.ask(`Approve this plan (${run.planHash.slice(0, 12)}) as ${actor.person}? [y/N]: `))?.toLowerCase();
  if (answer === "y" || answer === "yes") return decide(run.planHash);
  io.err(`not approved: ${answer === null || answer === undefined ? "nobody confirmed the plan" : `answered "${answer}"`}. Answer y, or pass --plan ${run.planHash} to approve the plan shown above without a prompt`);
  return null;
}