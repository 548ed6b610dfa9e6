import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runChild } from "../helpers/child.ts";

const CHILD = fileURLToPath(new URL("../fixtures/redis-down-child.ts", import.meta.url));

/** A loopback port nothing listens on: bound once to learn a free number, then closed. */
async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("target errors name their cause", () => {
  it("a Redis target nobody listens on: the error says ECONNREFUSED host:port, ioredis prints nothing unhandled", async () => {
    const port = await deadPort();
    const r = await runChild(CHILD, { DOWN_PORT: String(port) }, 30_000);
    expect(r.stderr).not.toContain("Unhandled error event");
    const out = r.lines[0] as { errors: string[]; logged: number; firstLog: string | null };
    expect(out.errors).toHaveLength(3);
    for (const e of out.errors) {
      expect(e).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
      expect(e).not.toContain("max retries");
      expect(e).toContain("redis cache");
    }
    // The connection errors went to belay's logger instead.
    expect(out.logged).toBeGreaterThan(0);
    expect(out.firstLog).toContain("ECONNREFUSED");
  }, 40_000);
});
