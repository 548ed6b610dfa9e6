#!/usr/bin/env node
// belay runs its TypeScript (and the team's playbooks) directly through tsx: playbooks are
// code the team edits, and a build step between editing one and running it is a trap at 3 a.m.
import { register } from "tsx/esm/api";

register();
// The project's .env (or BELAY_ENV_FILE's) before anything reads the environment.
const [{ applyEnvFile }, { BelayError }] = await Promise.all([import("../src/env-file.ts"), import("../src/errors.ts")]);
try {
  applyEnvFile(process.env);
} catch (err) {
  if (!(err instanceof BelayError)) throw err; // a bug: Node prints its stack
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
const { runCli } = await import("../src/cli/main.ts");
process.exitCode = await runCli(process.argv.slice(2));
