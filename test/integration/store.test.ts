import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, readMigrations } from "../../src/store/migrate.ts";
import { openPg } from "../../src/store/pg.ts";
import { openPglite } from "../../src/store/pglite.ts";
import { claimRuns, insertRun } from "../../src/store/runs.ts";
import { freshPgDatabase, openTestStore, type TestStore } from "../helpers/db.ts";
import { runChild } from "../helpers/child.ts";

const OPEN_STORE = fileURLToPath(new URL("../fixtures/open-store.ts", import.meta.url));

describe("migrations", () => {
  it("apply exactly once when several processes start together on one Postgres", async () => {
    const fresh = await freshPgDatabase("migrate");
    const pools = Array.from({ length: 5 }, () => openPg(fresh.url, { max: 2 }));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      const all = readMigrations().map((m) => m.version);
      expect(applied.flat().sort((a, b) => a - b)).toEqual(all); // each version applied by exactly one of them
      const rows = (await pools[0]!.query<{ version: number }>("SELECT version FROM belay_migrations ORDER BY version")).rows;
      expect(rows.map((r) => r.version)).toEqual(all);
      expect(await migrate(pools[1]!)).toEqual([]);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      await fresh.drop();
    }
  });

  it("name the migration that failed and leave nothing half-applied", async () => {
    const db = await openPglite(null);
    try {
      const bad = [...readMigrations(), { version: 9999, name: "broken", sql: "CREATE TABLE ok_table (x int); SELECT no_such_column FROM runs;" }];
      await expect(migrate(db, bad)).rejects.toThrow(/migration 9999_broken failed: column "no_such_column" does not exist/);
      const t = await db.query("SELECT to_regclass('ok_table') AS t");
      expect(t.rows[0]).toEqual({ t: null });
    } finally {
      await db.close();
    }
  });
});

describe("the embedded store", () => {
  it("refuses a second process with an error naming the process that holds it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "belay-lock-"));
    const db = await openPglite(dir, { command: "belay serve (test holder)" });
    try {
      const second = await runChild(OPEN_STORE, { DATA_DIR: dir });
      expect(second.lines[0]).toMatchObject({ opened: false, code: "store.locked" });
      expect(String(second.lines[0]!.message)).toContain(`in use by belay process ${process.pid} (belay serve (test holder)`);
    } finally {
      await db.close();
    }
    const third = await runChild(OPEN_STORE, { DATA_DIR: dir });
    expect(third.lines[0]).toEqual({ opened: true }); // released on close
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});

describe.each(["pg", "pglite"] as const)("store queries on %s", (kind) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(kind, `store_${kind}`);
  });
  afterAll(async () => {
    await store.close();
  });

  it("returns bigint counts as numbers", async () => {
    const r = await store.db.query<{ n: number }>("SELECT count(*) AS n FROM runs");
    expect(r.rows[0]!.n).toBe(0);
  });

  it("claims each due run for one owner only, also when owners claim at the same moment", async () => {
    const now = new Date();
    await store.db.transaction(async (tx) => {
      for (let i = 0; i < 20; i++) {
        await insertRun(
          tx,
          { id: `run_claim_${i}`, playbookId: "p", playbookFingerprint: "f", incidentId: null, requestedBy: "a", surface: "t", params: {}, status: "pending", dryRun: false, planHash: "h", createdAt: now },
          [],
        );
      }
    });
    const claims = await Promise.all(["a", "b", "c", "d"].map((owner) => claimRuns(store.db, { owner, leaseMs: 1000, limit: 8 })));
    const ids = claims.flat().map((c) => c.id);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
    expect(new Set(claims.flat().map((c) => c.epoch))).toEqual(new Set([1]));
    expect(await claimRuns(store.db, { owner: "e", leaseMs: 1000, limit: 8 })).toEqual([]);
    // Once the leases run out (on the database's clock), the runs are claimable again, marked
    // as resumed from `running`, under a new epoch.
    await new Promise((r) => setTimeout(r, 1100));
    const again = await claimRuns(store.db, { owner: "e", leaseMs: 1000, limit: 50 });
    expect(again).toHaveLength(20);
    expect(new Set(again.map((c) => c.previousStatus))).toEqual(new Set(["running"]));
    expect(new Set(again.map((c) => c.epoch))).toEqual(new Set([2]));
  });
});
