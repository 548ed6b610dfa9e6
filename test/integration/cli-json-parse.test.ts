import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));

/** The real binary's stdout: what `belay ... --json | jq` reads. */
function belayJson(args: string[]): unknown {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, BELAY_ENV_FILE: "", BELAY_CONFIG: "" }, encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe("--json output survives the terminal's redaction", () => {
  it("belay playbooks show --json parses (a param's \"secret\": false was printed as \"secret\": [redacted])", () => {
    const pb = belayJson(["playbooks", "show", "redis-big-keys", "--json"]) as { id: string };
    expect(pb.id).toBe("redis-big-keys");
    expect(JSON.stringify(pb)).toContain('"secret":false');
  }, 90_000);
});

describe("belay drill run --json on a drill that never injected", () => {
  it("says not run, and no hypothesis was judged (before: status failed, hypothesisHeld false, no outcome)", () => {
    const dir = mkdtempSync(join(tmpdir(), "belay-drill-json-"));
    try {
      // A Redis target not marked for drills: the live drill is refused before it injects anything.
      writeFileSync(join(dir, "belay.yaml"), "targets:\n  redis:\n    cache: { url: redis://127.0.0.1:6379/0 }\n");
      const r = spawnSync(process.execPath, [BIN, "drill", "run", "redis-maxmemory", "--json"], {
        env: { ...process.env, BELAY_ENV_FILE: "", DATABASE_URL: "", BELAY_DATA_DIR: join(dir, "data"), BELAY_CONFIG: join(dir, "belay.yaml"), BELAY_LOG_LEVEL: "silent" },
        encoding: "utf8",
        input: "",
        timeout: 90_000,
      });
      const report = JSON.parse(r.stdout) as { outcome?: string; hypothesisHeld: boolean | null; reason: string };
      expect(report.reason).toContain("not marked for drills");
      expect(report.outcome).toBe("not run");
      expect(report.hypothesisHeld).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
