import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { initdbInChild, openPglite } from "../../src/store/pglite.ts";

/*
 * The embedded store's memory settings (see src/store/pglite.ts and bench/memory.ts): PGlite's
 * defaults cost a serving process ~300 MB more. These fail if the settings are dropped.
 */
const dirs: string[] = [];
const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), "belay-pglite-memory-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function settings(dataDir: string | null): Promise<Record<string, string>> {
  const db = await openPglite(dataDir);
  try {
    const r = await db.query<{ name: string; setting: string; unit: string | null }>(
      "SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'maintenance_work_mem')",
    );
    return Object.fromEntries(r.rows.map((x) => [x.name, `${x.setting} ${x.unit}`]));
  } finally {
    await db.close();
  }
}

describe("the embedded store's memory settings", () => {
  it("are in effect on a data directory, on its first start and after a restart", async () => {
    const dir = freshDir();
    // 2048 pages of 8 kB = 16 MB (PGlite's default is 128 MB); 16 MB = 16384 kB (default 64 MB).
    const expected = { shared_buffers: "2048 8kB", maintenance_work_mem: "16384 kB" };
    expect(await settings(dir)).toEqual(expected);
    expect(await settings(dir)).toEqual(expected);
  }, 60_000);

  it("are in effect in memory (tests)", async () => {
    expect((await settings(null)).shared_buffers).toBe("2048 8kB");
  }, 60_000);

  it("initdb runs in a child process, once, and a failure says what to check", () => {
    const pgdata = join(freshDir(), "pgdata");
    initdbInChild(pgdata);
    expect(existsSync(join(pgdata, "PG_VERSION"))).toBe(true);
    initdbInChild(pgdata); // exists already: nothing to do
    const file = join(freshDir(), "a-file");
    writeFileSync(file, "");
    expect(() => initdbInChild(join(file, "pgdata"))).toThrow(/could not create the embedded store in .*a-file\/pgdata \(.+\)\. Check the directory is writable/);
  }, 60_000);
});
