import { hostname, userInfo } from "node:os";
import { createInterface } from "node:readline/promises";
import { loadConfig, type Config } from "../config.ts";
import { redactText } from "../sinks.ts";

/** What every command gets: output streams, the environment, and a way to ask the human. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Asks a question; null when there is no one to answer (stdin closed or not a terminal). */
  ask(question: string): Promise<string | null>;
  /** The OS login, as the OS reports it: the terminal's identity (mapped through `people:`). */
  user(): string;
  /** This machine's name, recorded with break-glass decisions. */
  host(): string;
  /** Lets go of stdin so the process can exit. */
  close(): void;
}

export function processIo(): CliIo {
  let rl: ReturnType<typeof createInterface> | null = null;
  let closed = false;
  return {
    // The terminal is a sink: run, status, audit and postmortem output, and errors, redacted.
    out: (line) => process.stdout.write(`${redactText(line)}\n`),
    err: (line) => process.stderr.write(`${redactText(line)}\n`),
    env: process.env,
    async ask(question) {
      if (closed) return null;
      if (!rl) {
        rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY ?? false });
        rl.on("close", () => {
          closed = true;
        });
      }
      const answered = rl.question(question);
      const ended = new Promise<null>((r) => rl!.once("close", () => r(null)));
      const answer = await Promise.race([answered, ended]);
      if (answer === null) return null;
      return answer.trim();
    },
    close: () => {
      rl?.close();
    },
    // No fallback name: a terminal whose login the OS cannot tell has no identity to act with.
    user: () => userInfo().username,
    host: () => hostname(),
  };
}

export function configFrom(io: CliIo): Config {
  return loadConfig(io.env);
}

/** `--param k=v` pairs into an object; a pair without `=` is an error naming it. */
export function parsePairs(pairs: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} ${p}: expected key=value`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

export class UsageError extends Error {}
