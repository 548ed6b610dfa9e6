import { parseArgs } from "node:util";
import { openCore } from "../main.ts";
import { driveInteractively } from "./run.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";

const USAGE = {
  approve: "belay approve RUN STEP --as USER [--group G]... [--plan HASH] [--no-wait]",
  deny: "belay deny RUN STEP --as USER [--reason TEXT]",
  skip: "belay skip RUN STEP --as USER",
  retry: "belay retry RUN STEP --as USER",
  abort: "belay abort RUN --as USER [--reason TEXT]",
} as const;

/**
 * Decisions from a terminal, for when Slack is down: audited with surface `cli`. `approve`
 * binds to the plan the run has now unless `--plan` names the one the approver reviewed.
 */
export async function decideCommand(kind: keyof typeof USAGE, args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      as: { type: "string" },
      group: { type: "string", multiple: true },
      reason: { type: "string" },
      plan: { type: "string" },
      "no-wait": { type: "boolean" },
    },
  });
  const [runId, step] = positionals;
  if (!runId || (kind !== "abort" && !step)) throw new UsageError(`usage: ${USAGE[kind]}`);
  const actor = { id: values.as ?? io.user(), groups: values.group ?? [], surface: "cli" };
  const core = await openCore(configFrom(io), { command: `belay ${kind} ${runId}`, logLevel: "warn" });
  try {
    const view = await core.engine.view(runId);
    const r =
      kind === "abort"
        ? await core.engine.decide({ kind, runId, actor, ...(values.reason ? { reason: values.reason } : {}) })
        : kind === "approve"
          ? await core.engine.decide({ kind, runId, step: step!, actor, planHash: values.plan ?? view.run.planHash })
          : kind === "deny" || kind === "skip"
            ? await core.engine.decide({ kind, runId, step: step!, actor, ...(values.reason ? { reason: values.reason } : {}) })
            : await core.engine.decide({ kind, runId, step: step!, actor });
    (r.accepted ? io.out : io.err)(r.accepted ? r.message : `refused: ${r.message}`);
    if (!r.accepted) return 1;
    // With the embedded store no server can be working the run at the same time, so this
    // process carries it on; with Postgres, a running `belay serve` picks it up as well.
    if (r.resumed && !values["no-wait"]) {
      const code = await driveInteractively(core.engine, runId, actor.id, io);
      return code === 3 ? 0 : code; // parked at the next approval: this decision itself succeeded
    }
    return 0;
  } finally {
    await core.close();
  }
}
