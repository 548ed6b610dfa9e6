import { CommanderError } from "commander";
import { BelayError, describeError } from "../errors.ts";
import { processIo, UsageError, type CliIo } from "./io.ts";
import { buildProgram, EXIT, type ProgramDeps } from "./program.ts";

/**
 * Parses argv with commander (src/cli/program.ts holds the command tree) and maps what
 * happens to the exit codes the help documents: 0 ok, 1 failed, 2 usage, 3 parked.
 */
export async function runCli(argv: string[], io: CliIo = processIo(), deps: Omit<ProgramDeps, "io"> = {}): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram({ ...deps, io }, (c) => (code = c));
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end here too: exit 0. Anything else commander refused is a usage error (already printed).
      return err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version" ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof UsageError) {
      io.err(err.message);
      return EXIT.usage;
    }
    if (err instanceof BelayError) {
      io.err(`${err.message}`);
      return EXIT.failed;
    }
    io.err(`unexpected error: ${(err as Error).stack ?? describeError(err)}`);
    return EXIT.failed;
  } finally {
    io.close();
  }
}
