import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";

const run = promisify(execFile);

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

/**
 * A Redis of the test's own on a free loopback port, for CONFIG SET and fault injection (the
 * shared 6379 is never reconfigured). `stop()` shuts it down by the pid it wrote.
 */
export async function startOwnRedis(): Promise<{ url: string; port: number; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "belay-redis-"));
  const pidfile = join(dir, "redis.pid");
  const port = await freePort();
  await run("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "yes", "--pidfile", pidfile, "--dir", dir]);
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: (n) => (n > 50 ? null : 50) });
  probe.on("error", () => {});
  await probe.connect();
  await probe.ping();
  await probe.quit();
  return {
    url,
    port,
    stop: async () => {
      try {
        process.kill(Number(readFileSync(pidfile, "utf8").trim()), "SIGTERM");
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
