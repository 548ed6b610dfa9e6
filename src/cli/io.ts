import { hostname, userInfo } from "node:os";
import { createInterface, type Interface } from "node:readline/promises";
import { loadConfig, type Config } from "../config.ts";
import { redactText } from "../sinks.ts";

export interface AskOptions {
  /** Ends the question early (a decision made elsewhere): the answer is then null. */
  signal?: AbortSignal;
  /** Ask on stderr (under --json, stdout carries only JSON). */
  toErr?: boolean;
}

/** What every command gets: output streams, the environment, and a way to ask the human. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Asks a question; null when there is no one to answer (stdin closed or not a terminal) or the signal ended it. */
  ask(question: string, opts?: AskOptions): Promise<string | null>;
  /** All of standard input, for `--alert -`. */
  readStdin(): Promise<string>;
  /** The OS login, as the OS reports it: the terminal's identity (mapped through `people:`). */
  user(): string;
  /** This machine's name, recorded with break-glass decisions. */
  host(): string;
  /** Lets go of stdin so the process can exit. */
  close(): void;
  /** True when out goes to a terminal: progress lines and colour are for people. */
  isTty: boolean;
  /** Colour on: a terminal, and NO_COLOR unset. */
  color: boolean;
  /** Where logs go: a writer that never lands on the line of a question being asked. */
  logWriter(): { write(chunk: string): void };
}

type Out = NodeJS.WritableStream & { isTTY?: boolean };

/** The process's terminal; the streams are for tests (a fake terminal). */
export function processIo(streams: { stdin: NodeJS.ReadableStream & { isTTY?: boolean }; stdout: Out; stderr: Out; env?: Record<string, string | undefined> } = process): CliIo {
  const { stdin, stdout, stderr } = streams;
  const env = streams.env ?? process.env;
  let rl: Interface | null = null;
  let closed = false;
  let asking: { question: string; toErr: boolean } | null = null;
  const isTty = Boolean(stdout.isTTY);
  const stdinTty = Boolean(stdin.isTTY);
  const io: CliIo = {
    // The terminal is a sink: run, status, audit and postmortem output, and errors, redacted.
    out: (line) => void stdout.write(`${redactText(line)}\n`),
    err: (line) => void stderr.write(`${redactText(line)}\n`),
    env,
    isTty,
    // https://no-color.org: any non-empty NO_COLOR turns colour off.
    color: isTty && !env.NO_COLOR,
    async ask(question, opts = {}) {
      if (closed || opts.signal?.aborted) return null;
      if (!rl) {
        const output = opts.toErr ? stderr : stdout;
        rl = createInterface({ input: stdin, output, terminal: stdinTty && Boolean(output.isTTY) });
        rl.on("close", () => {
          closed = true;
        });
      }
      const r = rl;
      asking = { question, toErr: Boolean(opts.toErr) };
      const ended = new Promise<null>((res) => r.once("close", () => res(null)));
      try {
        const answered = r.question(question, opts.signal ? { signal: opts.signal } : {}).catch((err: unknown) => {
          if ((err as { name?: string }).name === "AbortError") return null;
          throw err;
        });
        const answer = await Promise.race([answered, ended]);
        if (answer === null) {
          if (opts.signal?.aborted) (opts.toErr ? stderr : stdout).write("\n");
          return null;
        }
        return answer.trim();
      } finally {
        asking = null;
      }
    },
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    close: () => {
      rl?.close();
    },
    // No fallback name: a terminal whose login the OS cannot tell has no identity to act with.
    user: () => userInfo().username,
    host: () => hostname(),
    logWriter: () => ({
      write(chunk: string) {
        if (!asking) return void stderr.write(chunk);
        const promptOut = asking.toErr ? stderr : stdout;
        if (promptOut.isTTY && stderr.isTTY) {
          // Clear the question's line, write the log, then draw the question (and what was typed) again.
          promptOut.write("\r\x1b[2K");
          stderr.write(chunk);
          promptOut.write(`${asking.question}${rl?.line ?? ""}`);
        } else {
          stderr.write(`\n${chunk}`);
        }
      },
    }),
  };
  return io;
}

/**
 * For `--json`: the one JSON document goes to stdout through the returned `json`; every
 * other line (and every prompt) goes to stderr through `human`.
 */
export function splitIo(io: CliIo, machine: boolean): { human: CliIo; json: (value: unknown) => void } {
  const json = (value: unknown) => io.out(JSON.stringify(value, null, 2));
  if (!machine) return { human: io, json };
  return { human: { ...io, out: io.err, isTty: false, color: false, ask: (q, o) => io.ask(q, { ...o, toErr: true }) }, json };
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

/** `--limit N`: a whole number from 1 to 1000. */
export function parseLimit(value: string): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError(`--limit ${value}: use a whole number from 1 to 1000`);
  return limit;
}

export class UsageError extends Error {}

/** A CliIo in memory (tests, and callers that collect output): no terminal, nobody to answer unless `answers` says. */
export function memoryIo(env: Record<string, string | undefined>, opts: { user?: string; host?: string; answers?: string[]; stdin?: string } = {}): CliIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  const answers = [...(opts.answers ?? [])];
  return {
    outLines,
    errLines,
    out: (l) => void outLines.push(l),
    err: (l) => void errLines.push(l),
    env,
    ask: async () => answers.shift() ?? null,
    readStdin: async () => opts.stdin ?? "",
    user: () => opts.user ?? "tester",
    host: () => opts.host ?? "test-host",
    close: () => {},
    isTty: false,
    color: false,
    logWriter: () => ({ write: (chunk: string) => void errLines.push(chunk.trimEnd()) }),
  };
}
