import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));
const PLAYBOOKS = fileURLToPath(new URL("../fixtures/cli-playbooks", import.meta.url));
const REAL_PLAYBOOKS = fileURLToPath(new URL("../../playbooks", import.meta.url));

function belay(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: tmpdir(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

// The embedded store in a directory of this file's own; the dry run reads the shared Redis (read-only: CONFIG GET).
describe("--json: only JSON on stdout, everything else on stderr", { timeout: 120_000 }, () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "belay-cli-json-"));
    writeFileSync(join(dir, "belay.yaml"), "targets:\n  redis:\n    cache:\n      url: redis://127.0.0.1:6379\n      drill: true\n");
    env = { DATABASE_URL: "", BELAY_DATA_DIR: join(dir, "data"), BELAY_PLAYBOOKS_DIR: PLAYBOOKS, BELAY_CONFIG: join(dir, "belay.yaml"), BELAY_LOG_LEVEL: "warn" };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("`belay run --json` prints the run as JSON; the plan goes to stderr (failed before: --json was an unknown option)", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=3", "--dry-run", "--json"], env);
    expect(r.code).toBe(0);
    const view = JSON.parse(r.stdout);
    expect(view.run).toMatchObject({ playbookId: "redis-samples", status: "previewed", dryRun: true });
    expect(view.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual(["read:succeeded", "set-samples:previewed"]);
    expect(r.stderr).toContain("Plan for redis-samples");
    expect(r.stderr).toMatch(/set-samples \[HIGH\]: previewed \(dry run\)\n {7}preview: maxmemory-samples \d+ -> 3/);
  });

  it("`belay run` prints a notify step's message and shows diagnostics as tables (failed before: the message went to a log at info level, unseen)", async () => {
    const notify = fileURLToPath(new URL("../fixtures/cli-notify", import.meta.url));
    const r = await belay(["run", "say-hello", "--param", "who=ops"], { ...env, BELAY_PLAYBOOKS_DIR: notify });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("notify: hello ops, api-1 is crash-looping");
    expect(r.stdout).toContain("sent: hello ops, api-1 is crash-looping");
    expect(r.stdout).toMatch(/pods \(2\):\n {9}NAME {3}PHASE\n {9}-+ {2}-+\n {9}api-0 {2}Running\n {9}api-1 {2}CrashLoopBackOff/);
  });

  it("`belay drill run --json` prints only the report's JSON on stdout (failed before: the hypothesis and undo lines were on stdout too)", async () => {
    const r = await belay(["drill", "run", "redis-unavailable", "--json"], { ...env, BELAY_CONFIG: "", BELAY_PLAYBOOKS_DIR: REAL_PLAYBOOKS });
    expect(r.stdout.trimStart().startsWith("{")).toBe(true);
    const report = JSON.parse(r.stdout);
    expect(report.drill.id).toBe("redis-unavailable");
    expect(r.stderr).toContain("[DRILL] redis-unavailable:");
    expect(r.stderr).toContain("injection.applied");
    expect(r.code).toBe(report.status === "passed" ? 0 : 1);
    // and the run shows up in belay drill runs
    const runs = JSON.parse((await belay(["drill", "runs", "--json"], { ...env, BELAY_CONFIG: "", BELAY_PLAYBOOKS_DIR: REAL_PLAYBOOKS })).stdout);
    expect(runs.drillRuns.map((d: { id: string }) => d.id)).toContain(report.drillRunId);
  });

  it("`drill run --target` takes a URL as documented: the configured target with that address, never any other (failed before: 'no redis target named redis://...')", async () => {
    const r = await belay(["drill", "run", "redis-maxmemory", "--target", "redis://127.0.0.1:6390/0"], { ...env, BELAY_PLAYBOOKS_DIR: REAL_PLAYBOOKS });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      "--target redis://127.0.0.1:6390/0: no redis target in BELAY_CONFIG has this URL. Add it (targets.redis.NAME: { url: ..., drill: true }) and pass its name or URL: a live drill only injects into targets marked for drills",
    );
    expect(r.stdout).toBe("");
  });
});
