import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { createServer } from "node:net";

/**
 * Child processes of the stack suite: each one's output goes to a log file, each is
 * killed at teardown (TERM, then KILL), and none outlives the test process: an exit hook
 * kills whatever is left, and a watchdog kills everything past a hard limit.
 */
export interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** The last lines it printed. */
  tail(lines?: number): string;
}

const live = new Set<Proc>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", () => {
    for (const p of live) signal(p, "SIGKILL");
  });
}

/**
 * Starts `cmd` under coreutils `timeout` in a process group of its own: even if this test
 * process dies without cleaning up, the child is killed after `limitSec`. Signals go to the
 * whole group, so `kill9` reaches the real process, not only `timeout`.
 */
export function start(name: string, cmd: string, args: string[], opts: { env?: Record<string, string>; log: string; cwd?: string; limitSec: number }): Proc {
  hook();
  const out: WriteStream = createWriteStream(opts.log, { flags: "a" });
  const child = spawn("timeout", ["--kill-after=5s", `${Math.max(1, Math.ceil(opts.limitSec))}s`, cmd, ...args], {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const recent: string[] = [];
  const keep = (d: Buffer) => {
    // Output can still arrive after 'exit' (stdio closes later): the log is ended on 'close'.
    if (!out.writableEnded) out.write(d);
    for (const line of d.toString("utf8").split("\n")) if (line) recent.push(line);
    if (recent.length > 200) recent.splice(0, recent.length - 200);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const proc: Proc = {
    name,
    child,
    log: opts.log,
    exited: new Promise<void>((resolve) => {
      child.once("exit", () => {
        live.delete(proc);
        resolve();
      });
      child.once("close", () => out.end());
      child.once("error", (err) => {
        recent.push(`spawn failed: ${err.message}`);
        live.delete(proc);
        resolve();
      });
    }),
    tail: (n = 30) => recent.slice(-n).join("\n"),
  };
  live.add(proc);
  return proc;
}

/** A signal to the process's whole group (`timeout` and the real process). */
function signal(p: Proc, sig: NodeJS.Signals): void {
  try {
    if (p.child.pid) process.kill(-p.child.pid, sig);
  } catch {
    /* already gone */
  }
}

/** TERM, then KILL after `graceMs`; resolves once it is gone. */
export async function stop(p: Proc, graceMs = 3_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  signal(p, "SIGTERM");
  const timer = setTimeout(() => signal(p, "SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
}

/** kill -9 of the real process (and its `timeout`). */
export async function kill9(p: Proc): Promise<void> {
  signal(p, "SIGKILL");
  await p.exited;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stop(p)));
}

/** Kills every child once `ms` have passed: no run of the suite can leave them behind. */
export function watchdog(ms: number): () => void {
  const t = setTimeout(() => {
    process.stderr.write(`[stack] watchdog: the stack ran past ${ms} ms; killing its processes\n`);
    for (const p of live) signal(p, "SIGKILL");
  }, ms);
  t.unref();
  return () => clearTimeout(t);
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy; fails after `ms` naming `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms: number, everyMs = 250): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(everyMs);
  }
}
