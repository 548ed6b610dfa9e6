#!/usr/bin/env node
// belay runs its TypeScript (and the team's playbooks) directly through tsx: playbooks are
// code the team edits, and a build step between editing one and running it is a trap at 3 a.m.
import { register } from "tsx/esm/api";

register();
const { runCli } = await import("../src/cli/main.ts");
process.exitCode = await runCli(process.argv.slice(2));
