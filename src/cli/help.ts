import type { Command } from "commander";
import { EPILOGUE, examplesOf } from "./options.ts";

/**
 * `belay help`: every command and subcommand with its usage, arguments, options and examples,
 * in one page. `belay help drill run` is that command's own help. Null: no such command.
 */
export function helpText(program: Command, path: readonly string[]): string | null {
  let cmd = program;
  for (const name of path) {
    const next = cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (!next) return null;
    cmd = next;
  }
  if (path.length > 0) return `${cmd.helpInformation().trimEnd()}${exampleBlock(cmd)}\n${EPILOGUE}`;
  const lines = [program.description(), "", "Commands (belay COMMAND -h for one):"];
  const walk = (c: Command) => {
    for (const sub of c.commands) {
      if (sub.name() === "help" && c === program) continue;
      lines.push(...entry(sub));
      walk(sub);
    }
  };
  walk(program);
  lines.push("", "  belay help [COMMAND...]", "      this page, or one command's help", "", "Every command also takes -h, --help.");
  return `${lines.join("\n")}\n${EPILOGUE}`;
}

function entry(cmd: Command): string[] {
  const help = cmd.createHelp();
  const out = ["", `  ${help.commandUsage(cmd)}`, `      ${cmd.description()}`];
  const options = help.visibleOptions(cmd).filter((o) => o.long !== "--help");
  const args = help.visibleArguments(cmd).filter((a) => a.description);
  const width = Math.max(0, ...options.map((o) => help.optionTerm(o).length), ...args.map((a) => help.argumentTerm(a).length));
  for (const a of args) out.push(`      ${help.argumentTerm(a).padEnd(width)}  ${help.argumentDescription(a)}`);
  for (const o of options) out.push(`      ${help.optionTerm(o).padEnd(width)}  ${help.optionDescription(o)}`);
  const ex = examplesOf(cmd);
  if (ex.length) out.push(...ex.map((e) => `      e.g. ${e}`));
  return out;
}

function exampleBlock(cmd: Command): string {
  const ex = examplesOf(cmd);
  return ex.length ? `\n\nExample${ex.length > 1 ? "s" : ""}:\n${ex.map((l) => `  $ ${l}`).join("\n")}` : "";
}
