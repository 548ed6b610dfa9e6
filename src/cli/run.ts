import { eventsForRun } from "../audit/chain.ts";
import { parseArgs } from "node:util";
import type { Actor } from "../approve/policy.ts";
import type { Engine, RunView } from "../execute/engine.ts";
import { openCore } from "../main.ts";
import { coerceStrings } from "../plan/bind.ts";
import { renderPlan, renderRun } from "./render.ts";
import { configFrom, parsePairs, UsageError, type CliIo } from "./io.ts";

const TERMINAL_OK = new Set(["succeeded", "previewed"]);

/**
 * `belay run ID [--param k=v]... [--dry-run] [--as USER]`: the terminal as the approval
 * surface. The plan is shown, diagnostics run, and each act step waits for a y/n here,
 * with the same policy as anywhere else (a high-risk step needs two people who did not ask).
 */
export async function runCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      param: { type: "string", multiple: true, short: "p" },
      "dry-run": { type: "boolean" },
      as: { type: "string" },
      incident: { type: "string" },
    },
  });
  const id = positionals[0];
  if (!id) throw new UsageError("usage: belay run PLAYBOOK [--param key=value]... [--dry-run] [--as USER]");
  const config = configFrom(io);
  const core = await openCore(config, { command: `belay run ${id}`, logLevel: "warn" });
  try {
    const pb = core.engine.playbook(id);
    const raw = coerceStrings(pb.params, parsePairs(values.param ?? [], "--param"));
    const requester = values.as ?? io.user();
    const { runId, plan } = await core.engine.propose({
      playbookId: id,
      params: raw,
      requestedBy: requester,
      surface: "cli",
      incidentId: values.incident ?? null,
      dryRun: values["dry-run"] ?? false,
    });
    io.out(`${renderPlan(plan)}\n\nrun ${runId}${values["dry-run"] ? " (dry run: nothing will change)" : ""}\n`);
    return await driveInteractively(core.engine, runId, requester, io);
  } finally {
    await core.close();
  }
}

export async function driveInteractively(engine: Engine, runId: string, requester: string, io: CliIo): Promise<number> {
  let approver = requester;
  for (;;) {
    const view = await engine.drive(runId);
    const { run } = view;
    if (engine.isTerminal(run)) {
      io.out(renderRun(view, await eventsForRun(engine.deps.db, runId)));
      return TERMINAL_OK.has(run.status) ? 0 : 1;
    }
    if (run.status === "awaiting_approval") {
      const step = view.steps.find((s) => s.status === "awaiting_approval")!;
      io.out(`\n${renderRun(view)}\n`);
      io.out(`Step ${step.name} (${step.risk} risk) will:\n${step.preview}\n`);
      const answer = await io.ask(`Approve ${step.name} as ${approver}? [y]es / [n]o (deny, stops the run) / [s]kip / [o]ther approver / [a]bort: `);
      if (answer === null) return parked(io, view, step.name);
      const actor: Actor = { id: approver, surface: "cli" };
      const choice = answer.toLowerCase();
      if (choice === "y" || choice === "yes") {
        const r = await engine.decide({ kind: "approve", runId, step: step.name, actor, planHash: run.planHash });
        io.out(r.message);
        if (!r.accepted || !r.resumed) {
          const next = await io.ask("Another approver's user id (empty to leave the run waiting): ");
          if (!next) return parked(io, view, step.name);
          approver = next;
        }
      } else if (choice === "o" || choice === "other") {
        const next = await io.ask("Approver's user id: ");
        if (!next) return parked(io, view, step.name);
        approver = next;
      } else if (choice === "n" || choice === "no") {
        const reason = (await io.ask("Why (optional): ")) ?? "";
        io.out((await engine.decide({ kind: "deny", runId, step: step.name, actor, ...(reason ? { reason } : {}) })).message);
      } else if (choice === "s" || choice === "skip") {
        io.out((await engine.decide({ kind: "skip", runId, step: step.name, actor })).message);
      } else if (choice === "a" || choice === "abort") {
        io.out((await engine.decide({ kind: "abort", runId, actor })).message);
      } else {
        io.out(`"${answer}" is not one of y, n, s, o, a.`);
      }
      continue;
    }
    if (run.status === "awaiting_decision") {
      const step = view.steps.find((s) => s.status === "uncertain")!;
      io.out(`\n${renderRun(view)}\n`);
      io.out(`Step ${step.name} was interrupted and may or may not have changed its target. Check the target, then decide.`);
      const answer = await io.ask(`[r]etry (only if it did not take effect) / [s]kip (it did) / [a]bort, as ${approver}: `);
      if (answer === null) return parked(io, view, step.name);
      const actor: Actor = { id: approver, surface: "cli" };
      const kind = answer.startsWith("r") ? "retry" : answer.startsWith("s") ? "skip" : answer.startsWith("a") ? "abort" : null;
      if (!kind) {
        io.out(`"${answer}" is not one of r, s, a.`);
        continue;
      }
      const r = kind === "abort" ? await engine.decide({ kind, runId, actor }) : await engine.decide({ kind, runId, step: step.name, actor });
      io.out(r.message);
      continue;
    }
    io.out(renderRun(view));
    return 1;
  }
}

function parked(io: CliIo, view: RunView, step: string): number {
  io.out(`\nRun ${view.run.id} is waiting at ${step}. Decide from anywhere:`);
  io.out(`  belay approve ${view.run.id} ${step} --as USER     belay deny|skip ${view.run.id} ${step} --as USER`);
  io.out(`  belay abort ${view.run.id} --as USER               belay status ${view.run.id}`);
  return 3;
}
