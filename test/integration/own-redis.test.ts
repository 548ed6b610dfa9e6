import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { runChild } from "../helpers/child.ts";
import { startOwnRedis } from "../helpers/own-redis.ts";

async function answers(port: number): Promise<boolean> {
  const c = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  c.on("error", () => {});
  try {
    await c.connect();
    return (await c.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

it("startOwnRedis: a fresh server on another port, reconfigurable, gone after stop()", async () => {
  const own = await startOwnRedis();
  expect(own.port).not.toBe(6379);
  const c = new Redis(own.url);
  expect(await c.config("GET", "maxmemory")).toEqual(["maxmemory", "0"]);
  await c.config("SET", "maxmemory", "1851424");
  expect(await c.config("GET", "maxmemory")).toEqual(["maxmemory", "1851424"]);
  c.disconnect();
  await own.stop();
  expect(await answers(own.port)).toBe(false);
  await own.stop(); // twice is harmless
});

it("startOwnRedis: a test process killed without its afterAll cannot leave the server running", async () => {
  const dir = mkdtempSync(join(tmpdir(), "belay-own-redis-t-"));
  const script = join(dir, "child.mts");
  const helper = fileURLToPath(new URL("../helpers/own-redis.ts", import.meta.url));
  writeFileSync(
    script,
    `import { startOwnRedis } from "${helper}";
const own = await startOwnRedis({ maxLifetimeS: 2 });
process.stdout.write(JSON.stringify({ port: own.port }) + "\\n");
process.kill(process.pid, "SIGKILL");
`,
  );
  const child = await runChild(script, {}, 30_000).finally(() => rmSync(dir, { recursive: true, force: true }));
  expect(child.signal, child.stderr).toBe("SIGKILL");
  const port = child.lines[0]!.port as number;
  let up = true;
  for (let i = 0; i < 60 && up; i++) {
    await new Promise((r) => setTimeout(r, 250));
    up = await answers(port);
  }
  expect(up).toBe(false);
}, 30_000);
