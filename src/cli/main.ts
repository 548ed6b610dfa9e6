import { BelayError, describeError } from "../errors.ts";
import { auditCommand } from "./audit.ts";
import { decideCommand } from "./decide.ts";
import { docsCommand } from "./docs.ts";
import { processIo, UsageError, type CliIo } from "./io.ts";
import { playbooksCommand } from "./playbooks.ts";
import { runCommand } from "./run.ts";
import { runsCommand } from "./runs.ts";
import { serveCommand } from "./serve.ts";

const HELP = `belay: incident runbooks you can trust at 3 a.m.

  belay serve [--port N]                 HTTP server: /healthz /readyz /metrics, webhooks, Slack
  belay playbooks list [--json]          the playbook library
  belay playbooks show ID                one playbook: params, permissions, plan
  belay run ID [--param k=v]... [--dry-run] [--as USER]
                                         run a playbook with the terminal as the approval surface
  belay approve RUN STEP --as USER       approve a step (also: deny, skip, retry)
  belay abort RUN --as USER              stop a run
  belay runs [--limit N] | belay status RUN
  belay audit verify                     check the whole hash chain
  belay audit export --run ID | --incident ID [--format md|json]
  belay docs [--check]                   write (or check) runbooks/<id>.md

Configuration is read from the environment (see .env.example) and BELAY_CONFIG.`;

type Command = (args: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  playbooks: playbooksCommand,
  run: runCommand,
  approve: (a, io) => decideCommand("approve", a, io),
  deny: (a, io) => decideCommand("deny", a, io),
  skip: (a, io) => decideCommand("skip", a, io),
  retry: (a, io) => decideCommand("retry", a, io),
  abort: (a, io) => decideCommand("abort", a, io),
  runs: (a, io) => runsCommand("runs", a, io),
  status: (a, io) => runsCommand("status", a, io),
  audit: auditCommand,
  docs: docsCommand,
};

/** Registers a command from another module (match, drill, ...). */
export function registerCommand(name: string, command: Command): void {
  COMMANDS[name] = command;
}

export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    io.out(HELP);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  try {
    return await command(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof BelayError) {
      io.err(`${err.message}`);
      return 1;
    }
    if ((err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`${describeError(err)}\n(belay help lists the commands and their options)`);
      return 2;
    }
    io.err(`unexpected error: ${(err as Error).stack ?? describeError(err)}`);
    return 1;
  }
}
