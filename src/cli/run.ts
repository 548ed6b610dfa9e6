import { eventsForRun } from "../audit/chain.ts";
import type { Config } from "../config.ts";
import type { Engine, RunView } from "../execute/engine.ts";
import { BelayError, describeError } from "../errors.ts";
import { principalFromTerminal, type Principal } from "../identity/principal.ts";
import { openCore } from "../main.ts";
import { coerceStrings } from "../plan/bind.ts";
import { resolveTargets } from "../plan/targets.ts";
import { renderPlan, renderRun } from "./render.ts";
import { terminalPrincipal } from "./identity.ts";
import { configFrom, parsePairs, splitIo, UsageError, type CliIo } from "./io.ts";
import type { RunOptions } from "./options.ts";
import { askWatching } from "./watch.ts";

const TERMINAL_OK = new Set(["succeeded", "previewed"]);

/**
 * `belay run ID [--param k=v]... [--dry-run]`: the terminal as the approval surface, as the
 * OS login (through `people:`). The plan is shown, diagnostics run, and each act step waits
 * for a y/n here, with the same policy as anywhere else (a high-risk step needs two people
 * who did not ask: this terminal can give at most one of them).
 */
export async function runCommand(id: string, o: RunOptions, rawIo: CliIo): Promise<number> {
  if (o.as !== undefined) throw new UsageError("belay run: --as is gone; a run is requested by your own login (people: in BELAY_CONFIG maps it to you)");
  const { human: io, json } = splitIo(rawIo, Boolean(o.json));
  const config = configFrom(io);
  const requester = await terminalPrincipal(io, config);
  const core = await openCore(config, { command: `belay run ${id}`, logLevel: "warn", logDestination: rawIo.logWriter() });
  try {
    const pb = core.engine.playbook(id);
    // A target param not given is the only configured target of its kind; with several, say which.
    const targets = resolveTargets(pb, null, config.file.targets, parsePairs(o.param ?? [], "--param"));
    if (targets.issues.length > 0) throw new UsageError(targets.issues.map((i) => `--param ${i.field}=NAME: ${i.message}`).join("\n"));
    const raw = coerceStrings(pb.params, targets.params as Record<string, string>);
    const { runId, plan } = await core.engine.propose({
      playbookId: id,
      params: raw,
      requestedBy: requester.person,
      surface: "cli",
      incidentId: o.incident ?? null,
      dryRun: o.dryRun ?? false,
    });
    io.out(`${renderPlan(plan)}\n\nrun ${runId}${o.dryRun ? " (dry run: nothing will change)" : ""}\n`);
    // With no other surface here, a notify step's message is for this terminal.
    core.addNotifier(async (r, message) => {
      if (r.id === runId) io.out(`notify: ${message}`);
    });
    // Progress on a terminal: diagnostics and changes can take a while; say what is running.
    if (io.isTty) core.subscribe((events) => {
      for (const e of events) if (e.runId === runId && e.kind === "step.started" && e.step) io.err(`… ${e.step} running`);
    });
    const code = await driveInteractively(core.engine, runId, requester, io, config);
    if (o.json) json(await core.engine.view(runId));
    return code;
  } finally {
    await core.close();
  }
}

/**
 * Works a run in the foreground, asking this terminal's person at each gate. "Other
 * approver" is break-glass (when the config allows it): asked for whom and why, audited and
 * announced, and worth one approval whatever is answered.
 */
export async function driveInteractively(engine: Engine, runId: string, self: Principal, io: CliIo, config: Config): Promise<number> {
  const name = self.person;
  for (;;) {
    const view = await engine.drive(runId);
    const { run } = view;
    if (engine.isTerminal(run)) {
      io.out(renderRun(view, await eventsForRun(engine.deps.db, runId), { color: io.color }));
      return TERMINAL_OK.has(run.status) ? 0 : 1;
    }
    if (run.status === "awaiting_approval") {
      const step = view.steps.find((s) => s.status === "awaiting_approval")!;
      io.out(`\n${renderRun(view, [], { color: io.color })}\n`);
      io.out(`Step ${step.name} (${step.risk} risk) will:\n${step.preview}\nplan ${run.planHash}\n`);
      const answer = await askWatching(engine, view, step.name, io, `Approve ${step.name} as ${name}? [y]es / [n]o (deny, stops the run) / [s]kip / [o]ther approver (break-glass) / [a]bort: `);
      if (answer === "elsewhere") continue;
      if (answer === null) return parked(io, view, step.name);
      const actor = self;
      const choice = answer.toLowerCase();
      if (choice === "y" || choice === "yes") {
        const r = await engine.decide({ kind: "approve", runId, step: step.name, actor, planHash: run.planHash });
        io.out(r.message);
        // Refused: ask again (another choice may do). Accepted but short of approvers: others decide elsewhere.
        if (r.accepted && !r.resumed) return parked(io, view, step.name);
      } else if (choice === "o" || choice === "other") {
        const glass = await breakGlassPrincipal(io, config, self);
        if (!glass) continue;
        const r = await engine.decide({ kind: "approve", runId, step: step.name, actor: glass, planHash: run.planHash });
        io.out(r.accepted ? r.message : `refused: ${r.message}`);
        if (r.accepted && !r.resumed) return parked(io, view, step.name);
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
      const answer = await askWatching(engine, view, step.name, io, `[r]etry (only if it did not take effect) / [s]kip (it did) / [a]bort, as ${name}: `);
      if (answer === "elsewhere") continue;
      if (answer === null) return parked(io, view, step.name);
      const actor = self;
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

/** The "other approver" answer: break-glass for one approval, or a clear no. Null: nothing to do. */
async function breakGlassPrincipal(io: CliIo, config: Config, self: Principal): Promise<Principal | null> {
  if (config.approval.breakGlass.allowed === false) {
    io.out("Approving for someone else is break-glass, and it is off here (approval.breakGlass in BELAY_CONFIG). The other approver decides from their own login or from Slack.");
    return null;
  }
  const as = await io.ask("Approve on behalf of (their person id): ");
  if (!as) return null;
  const reason = await io.ask(`Why can ${as} not approve themselves? (audited and posted to the incident thread): `);
  if (!reason) {
    io.out("Break-glass needs a reason; nothing was approved.");
    return null;
  }
  try {
    const login = self.auth.method === "os" ? { login: self.auth.login, host: self.auth.host } : { login: io.user(), host: io.host() };
    return principalFromTerminal(config.people, login, { as, reason, breakGlass: config.approval.breakGlass });
  } catch (err) {
    if (!(err instanceof BelayError)) throw err;
    io.out(`refused: ${describeError(err)}`);
    return null;
  }
}

function parked(io: CliIo, view: RunView, step: string): number {
  io.out(`\nRun ${view.run.id} is waiting at ${step}. Decide from anywhere:`);
  io.out(`  belay approve ${view.run.id} ${step} --plan ${view.run.planHash.slice(0, 12)}`);
  io.out(`  belay deny|skip ${view.run.id} ${step}`);
  io.out(`  belay abort ${view.run.id}                 belay status ${view.run.id}`);
  io.out(`  (each as the login that runs it; approvers can also click in Slack)`);
  return 3;
}
