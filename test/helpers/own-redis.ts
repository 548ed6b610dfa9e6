import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/*
 * The machine's Redis on 6379 is shared by every test file, every vitest worker and every
 * engineer. A test that changes server state there (CONFIG SET of anything, a maxmemory or
 * maxclients fault, CLIENT KILL of clients it does not own, DEBUG, SHUTDOWN) breaks the others
 * while it runs, and for good if two runs overlap or one crashes before restoring. Such a test
 * starts a Redis of its own with startOwnRedis() and stops it in afterAll.
 */

export interface OwnRedis {
  /** redis://127.0.0.1:<port> (append /<db> for another database). */
  url: string;
  port: number;
  /** Stops the server and waits for it to exit. Safe to call twice. */
  stop: () => Promise<void>;
}

export interface OwnRedisOptions {
  /** Extra redis-server arguments, e.g. ["--maxclients", "20"]. */
  args?: string[];
  /** The server is killed after this long whatever happens to the test process (default 600 s). */
  maxLifetimeS?: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A worker that exits without running afterAll still takes its servers with it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of running) c.kill("SIGTERM");
  });
}

async function startOnce(port: number, opts: OwnRedisOptions): Promise<OwnRedis> {
  const dir = mkdtempSync(join(tmpdir(), "belay-own-redis-"));
  const lifetime = String(opts.maxLifetimeS ?? 600);
  // Run in the foreground (never --daemonize yes) under `timeout`: the server is this process's
  // child, and even if the test process is SIGKILLed it cannot outlive `lifetime` seconds.
  const child = spawn(
    "timeout",
    ["-k", "5", lifetime, "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir, "--loglevel", "warning", ...(opts.args ?? [])],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
    running.delete(child);
  });
  running.add(child);
  installExitHook();

  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    if (!gone) {
      child.kill("SIGTERM"); // timeout passes it on to redis-server
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Wait for PING (redis-server takes a moment to bind); give up at once if it exited.
  let lastError = "";
  for (let i = 0; i < 100 && !gone; i++) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === "PONG") return { url, port, stop };
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      probe.disconnect();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`redis-server on port ${port} did not answer PING (${gone ? "it exited" : lastError}):\n${output}`);
}

/** A Redis of the test's own on a free loopback port, for anything that changes server state. */
export async function startOwnRedis(opts: OwnRedisOptions = {}): Promise<OwnRedis> {
  let last: unknown;
  // Another process may take the free port between our probe and redis-server's bind: try again.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(await freePort(), opts);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
