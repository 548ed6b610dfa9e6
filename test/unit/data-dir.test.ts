import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { prepareDataDir } from "../../src/store/data-dir.ts";

const tmp = mkdtempSync(join(tmpdir(), "belay-datadir-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("prepareDataDir", () => {
  it("refuses /proc/nope in well under a second (Node's recursive mkdir loops there)", () => {
    const started = performance.now();
    expect(() => prepareDataDir("/proc/nope/deeper")).toThrow(/^BELAY_DATA_DIR is not valid: cannot create \/proc\/nope \(ENOENT: /);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("refuses a file, and a path under a file, naming which", () => {
    const file = join(tmp, "plain-file");
    writeFileSync(file, "x");
    expect(() => prepareDataDir(file)).toThrow(`BELAY_DATA_DIR is not valid: ${file} is not a directory (it is a file)`);
    expect(() => prepareDataDir(join(file, "sub"))).toThrow(`${file}, a parent of it, is a file, not a directory`);
  });

  it("creates the missing levels and returns the absolute path", () => {
    const dir = join(tmp, "a", "b", "c");
    expect(prepareDataDir(dir)).toBe(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(prepareDataDir(dir)).toBe(dir); // again: already there
    expect(existsSync(join(tmp, "a", "b"))).toBe(true);
  });
});
