import { parseArgs } from "node:util";
import { openCore } from "../main.ts";
import { driveInteractively } from "./run.ts";
import { GROUP_FLAG_GONE, terminalPrincipal } from "./identity.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";

const BREAK_GLASS = "[--as PERSON --reason TEXT]";
const USAGE = {
  approve: `belay approve RUN STEP [--plan HASH] [--no-wait] ${BREAK_GLASS}`,
  deny: `belay deny RUN STEP [--reason TEXT] ${BREAK_GLASS}`,
  skip: `belay skip RUN STEP [--reason TEXT] ${BREAK_GLASS}`,
  retry: `belay retry RUN STEP ${BREAK_GLASS}`,
  abort: `belay abort RUN [--reason TEXT] ${BREAK_GLASS}`,
} as const;

/**
 * Decisions from a terminal, for when Slack is down: made as the OS login (through
 * `people:`), audited with surface `cli`. `--as` is break-glass. `approve` binds to the plan
 * the run has now unless `--plan` names the one the approver reviewed.
 */
export async function decideCommand(kind: keyof typeof USAGE, args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      as: { type: "string" },
      // Parsed only to refuse it by name: a claimed group must never count.
      group: { type: "string", multiple: true },
      reason: { type: "string" },
      plan: { type: "string" },
      "no-wait": { type: "boolean" },
    },
  });
  if (values.group) throw new UsageError(GROUP_FLAG_GONE);
  const [runId, step] = positionals;
  if (!runId || (kind !== "abort" && !step)) throw new UsageError(`usage: ${USAGE[kind]}`);
  const config = configFrom(io);
  const actor = await terminalPrincipal(io, config, { as: values.as, reason: values.reason });
  // With --as, --reason is the break-glass reason; it is the decision's reason too.
  const reason = values.reason ? { reason: values.reason } : {};
  const core = await openCore(config, { command: `belay ${kind} ${runId}`, logLevel: "warn" });
  try {
    const view = await core.engine.view(runId);
    const r =
      kind === "abort"
        ? await core.engine.decide({ kind, runId, actor, ...reason })
        : kind === "approve"
          ? await core.engine.decide({ kind, runId, step: step!, actor, planHash: values.plan ?? view.run.planHash })
          : kind === "deny" || kind === "skip"
            ? await core.engine.decide({ kind, runId, step: step!, actor, ...reason })
            : await core.engine.decide({ kind, runId, step: step!, actor });
    (r.accepted ? io.out : io.err)(r.accepted ? r.message : `refused: ${r.message}`);
    if (!r.accepted) return 1;
    // With the embedded store no server can be working the run at the same time, so this
    // process carries it on; with Postgres, a running `belay serve` picks it up as well.
    if (r.resumed && !values["no-wait"]) {
      const code = await driveInteractively(core.engine, runId, await terminalPrincipal(io, config), io, config);
      return code === 3 ? 0 : code; // parked at the next approval: this decision itself succeeded
    }
    return 0;
  } finally {
    await core.close();
  }
}
