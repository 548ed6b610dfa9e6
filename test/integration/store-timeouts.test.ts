import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPg } from "../../src/store/pg.ts";
import { freshPgDatabase } from "../helpers/db.ts";

/**
 * A database that stops answering must not hang the store: connecting and every statement
 * are bounded (a failover sends no error), while a migration (which may wait on another
 * replica's migration lock, or take long) is not cut short.
 */
describe("store timeouts (Postgres)", () => {
  let fresh: { url: string; drop: () => Promise<void> };
  let silent: Server;
  const sockets: Socket[] = [];
  let silentPort = 0;
  beforeAll(async () => {
    fresh = await freshPgDatabase("timeouts");
    // Accepts connections and never says a word: a server behind a partition.
    silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    await fresh.drop();
  });

  it("connecting to a server that never answers fails instead of hanging", async () => {
    const db = openPg(`postgres://postgres@127.0.0.1:${silentPort}/belay`, { connectTimeoutMs: 300 });
    const started = performance.now();
    const outcome = await Promise.race([
      db.query("SELECT 1").then(() => "answered", (err: Error) => `failed: ${err.message}`),
      new Promise((r) => setTimeout(() => r("still waiting"), 3000)),
    ]);
    expect(outcome).toMatch(/^failed/);
    expect(performance.now() - started).toBeLessThan(2000);
    await db.close().catch(() => {});
  });

  it("a statement is bounded; a migration on its own connection is not", async () => {
    const db = openPg(fresh.url, { queryTimeoutMs: 300 });
    try {
      await expect(db.query("SELECT pg_sleep(2)")).rejects.toMatchObject({ code: "57014" }); // statement_timeout
      await expect(db.transaction((tx) => tx.query("SELECT pg_sleep(2)"))).rejects.toMatchObject({ code: "57014" });
      await expect(db.withMigrationLock((m) => m.query("SELECT pg_sleep(0.6) AS slept"))).resolves.toMatchObject({ rowCount: 1 });
      expect((await db.query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one).toBe(1);
    } finally {
      await db.close();
    }
  });
});
