import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveId, resolvePlanHash } from "../../src/cli/resolve.ts";
import { insertRun } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

describe("ids and plan hashes by unique prefix", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pg", "cli_prefix");
    const run = (id: string) =>
      insertRun(store.db, { id, playbookId: "p", playbookFingerprint: "f", incidentId: null, requestedBy: "alice", surface: "cli", params: {}, status: "pending", dryRun: false, planHash: "h", createdAt: new Date() }, []);
    await run("run_abcdef1111");
    await run("run_abcdef2222");
    await run("run_zz_x%1234");
  });
  afterAll(async () => {
    await store?.close();
  });

  it("takes the whole id, or a unique prefix of 7+ characters", async () => {
    expect(await resolveId(store.db, "run", "run_abcdef1111")).toBe("run_abcdef1111");
    expect(await resolveId(store.db, "run", "run_abcdef1")).toBe("run_abcdef1111");
    expect(await resolveId(store.db, "run", "run_ab")).toBe(null); // 6 characters: too short to be a prefix
    expect(await resolveId(store.db, "run", "run_nope123")).toBe(null);
  });

  it("refuses an ambiguous prefix naming the candidates", async () => {
    await expect(resolveId(store.db, "run", "run_abcdef")).rejects.toThrow('run "run_abcdef" is ambiguous: it starts 2 ids (run_abcdef1111, run_abcdef2222); type more of it');
  });

  it("treats _ and % in a prefix as themselves, not as LIKE wildcards", async () => {
    expect(await resolveId(store.db, "run", "run_zz_x%")).toBe("run_zz_x%1234");
    expect(await resolveId(store.db, "run", "run%abcdef1")).toBe(null);
  });

  it("a plan hash: the whole hash or 7+ characters of the current one; shorter is a usage error; another hash is passed on to be refused as stale", () => {
    const h = "4f2a9c1e".padEnd(64, "0");
    expect(resolvePlanHash(h, "4f2a9c1")).toBe(h);
    expect(resolvePlanHash(h, h.toUpperCase())).toBe(h);
    expect(() => resolvePlanHash(h, "4f2a")).toThrow("at least 7 characters");
    expect(resolvePlanHash(h, "0".repeat(64))).toBe("0".repeat(64));
  });
});
