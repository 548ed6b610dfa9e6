import type { Command } from "commander";

// What the command tree (program.ts) and the commands' modules share: the exit codes, the help
// epilogue and examples, and each command's parsed options. Commands import these from here,
// never from program.ts, which imports the commands (lazily): so imports run one way.

/** Exit codes, the same for every command (the help epilogue lists them). */
export const EXIT = { ok: 0, failed: 1, usage: 2, parked: 3 } as const;

export const EPILOGUE = `
Exit codes:
  0  done
  1  failed (a refused decision, a failed run or check, nothing found)
  2  usage error (unknown command or option, missing argument): nothing was done
  3  parked: the run waits for a person (approve it here, elsewhere, or in Slack)

Machine output: --json prints JSON on stdout and everything else on stderr.
Configuration is read from the environment (see .env.example) and BELAY_CONFIG.`;

const EXAMPLES = new WeakMap<Command, string[]>();

/** Adds "Example:" lines to a command's help; the help test checks every command has one. */
export function example(cmd: Command, ...lines: string[]): Command {
  EXAMPLES.set(cmd, lines);
  return cmd.addHelpText("after", `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`);
}

export function examplesOf(cmd: Command): string[] {
  return EXAMPLES.get(cmd) ?? [];
}

export interface RunOptions {
  param?: string[];
  dryRun?: boolean;
  incident?: string;
  json?: boolean;
  as?: string;
}
export interface DecideOptions {
  json?: boolean;
  plan?: string;
  wait?: boolean;
  reason?: string;
  as?: string;
  group?: string;
}
export interface AuditVerifyOptions {
  expectHead?: string;
  expectMac?: string;
  json?: boolean;
}
export interface AuditExportOptions {
  run?: string;
  incident?: string;
  format: string;
  json?: boolean;
}
export interface DrillRunOptions {
  target?: string;
  detect?: string;
  detectWithin?: string;
  report?: string;
  json?: boolean;
  as?: string;
  reason?: string;
}
export interface IncidentsListOptions {
  status?: string;
  limit: string;
  json?: boolean;
}
