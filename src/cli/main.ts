import { BelayError, describeError } from "../errors.ts";
import { processIo, UsageError, type CliIo } from "./io.ts";

const HELP = `belay: incident runbooks you can trust at 3 a.m.

  belay serve [--port N]                 HTTP server: /healthz /readyz /metrics, webhooks, Slack
  belay playbooks list [--json]          the playbook library
  belay playbooks show ID                one playbook: params, permissions, plan
  belay run ID [--param k=v]... [--dry-run]
                                         run a playbook with the terminal as the approval surface
  belay approve RUN STEP [--plan HASH]   show the step's preview and plan hash, approve that plan as
                                         your OS login on y, or without asking with --plan (also: deny, skip, retry)
  belay abort RUN [--reason TEXT]        stop a run
      ... --as PERSON --reason TEXT      break-glass: act for someone else (when the config allows)
  belay runs [--limit N] | belay status RUN
  belay match --alert FILE [--json]      the failure mode and ranked playbooks for an alert file
  belay audit verify                     check the whole hash chain
  belay audit export --run ID | --incident ID [--format md|json]
  belay docs [--check]                   write (or check) runbooks/<id>.md
  belay drill list | belay drill run ID [--target ...]
                                         game-day drills
  belay postmortem INCIDENT [--format md|json] [--chart FILE]
                                         a post-incident review draft from the audit trail
  belay retriage INCIDENT [--as USER]    match and propose again (belay serve's worker runs it)

Configuration is read from the environment (see .env.example) and BELAY_CONFIG.`;

type Command = (args: string[], io: CliIo) => Promise<number>;

// Each command's module is imported when it runs: `belay --help` should not load Bolt or
// the Kubernetes client.
const COMMANDS: Record<string, Command> = {
  serve: async (a, io) => (await import("./serve.ts")).serveCommand(a, io),
  playbooks: async (a, io) => (await import("./playbooks.ts")).playbooksCommand(a, io),
  run: async (a, io) => (await import("./run.ts")).runCommand(a, io),
  approve: async (a, io) => (await import("./decide.ts")).decideCommand("approve", a, io),
  deny: async (a, io) => (await import("./decide.ts")).decideCommand("deny", a, io),
  skip: async (a, io) => (await import("./decide.ts")).decideCommand("skip", a, io),
  retry: async (a, io) => (await import("./decide.ts")).decideCommand("retry", a, io),
  abort: async (a, io) => (await import("./decide.ts")).decideCommand("abort", a, io),
  runs: async (a, io) => (await import("./runs.ts")).runsCommand("runs", a, io),
  status: async (a, io) => (await import("./runs.ts")).runsCommand("status", a, io),
  audit: async (a, io) => (await import("./audit.ts")).auditCommand(a, io),
  docs: async (a, io) => (await import("./docs.ts")).docsCommand(a, io),
  drill: async (a, io) => (await import("./drill.ts")).drillCommand(a, io),
  postmortem: async (a, io) => (await import("./postmortem.ts")).postmortemCommand(a, io),
  retriage: async (a, io) => (await import("./retriage.ts")).retriageCommand(a, io),
  match: async (a, io) => {
    const [{ matchCommand }, { loadPlaybooks }, { configFrom }] = await Promise.all([import("./match.ts"), import("../plan/registry.ts"), import("./io.ts")]);
    const dir = configFrom(io).env.BELAY_PLAYBOOKS_DIR;
    return matchCommand(a, { out: io.out, err: io.err, loadPlaybooks: async () => [...(await loadPlaybooks(dir)).values()] });
  },
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
  } finally {
    io.close();
  }
}
