import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPgDatabase } from "../helpers/db.ts";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));
const PLAYBOOKS = fileURLToPath(new URL("../fixtures/cli-playbooks", import.meta.url));

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `belay` binary, feeding `input` to its prompts one line at a time. */
function belay(args: string[], env: Record<string, string>, input: string[] = []): Promise<Out> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const pending = [...input];
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      // Answer each prompt as it appears (a prompt ends with ": " and no newline).
      if (/: $/.test(stdout) && pending.length > 0) child.stdin.write(`${pending.shift()}\n`);
      else if (/: $/.test(stdout) && pending.length === 0) child.stdin.end();
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    if (input.length === 0) child.stdin.end();
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the belay CLI against Postgres and the machine's Redis", { timeout: 120_000 }, () => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  let redis: Redis;
  let original: string;
  let dir: string;

  beforeAll(async () => {
    const fresh = await freshPgDatabase("cli");
    drop = fresh.drop;
    dir = mkdtempSync(join(tmpdir(), "belay-cli-"));
    writeFileSync(join(dir, "belay.yaml"), "targets:\n  redis:\n    cache:\n      url: redis://127.0.0.1:6379\n");
    env = { DATABASE_URL: fresh.url, BELAY_PLAYBOOKS_DIR: PLAYBOOKS, BELAY_CONFIG: join(dir, "belay.yaml"), BELAY_LOG_LEVEL: "warn" };
    redis = new Redis("redis://127.0.0.1:6379");
    original = ((await redis.config("GET", "maxmemory-samples")) as string[])[1]!;
  });
  afterAll(async () => {
    await redis.config("SET", "maxmemory-samples", original);
    redis.disconnect();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists and shows playbooks", async () => {
    const list = await belay(["playbooks", "list", "--json"], env);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ id: "redis-samples", permissions: ["redis:CONFIG"], steps: [expect.objectContaining({ kind: "diagnose" }), expect.objectContaining({ kind: "act", risk: "high" })] }),
    ]);
    const show = await belay(["playbooks", "show", "redis-samples"], env);
    expect(show.stdout).toContain("samples: number (required)");
    expect(show.stdout).toContain("act      set-samples [HIGH]  needs redis:CONFIG");
  });

  it("runs a high-risk step only after two approvers who did not ask for it, then verifies it", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=7", "--as", "alice"], env, ["y", "bob", "y", "carol", "y"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Step set-samples \(high risk\) will:\nmaxmemory-samples \d+ -> 7/);
    expect(r.stdout).toContain("alice asked for this run and may not approve its high-risk steps");
    expect(r.stdout).toContain("bob approved set-samples; 1 more approval(s) needed from another approver");
    expect(r.stdout).toContain("set-samples approved by bob and carol; it runs now");
    expect(r.stdout).toMatch(/status succeeded/);
    expect(((await redis.config("GET", "maxmemory-samples")) as string[])[1]).toBe("7");
  });

  it("parks a run when nobody answers, and finishes it from `belay approve` in other terminals", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=9", "--as", "alice"], env);
    expect(r.code).toBe(3);
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    expect(r.stdout).toContain(`belay approve ${runId} set-samples --as USER`);
    const self = await belay(["approve", runId, "set-samples", "--as", "alice"], env);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain("refused: alice asked for this run");
    expect((await belay(["approve", runId, "set-samples", "--as", "bob"], env)).stdout).toContain("1 more approval(s) needed");
    const last = await belay(["approve", runId, "set-samples", "--as", "carol"], env);
    expect(last.code).toBe(0);
    expect(((await redis.config("GET", "maxmemory-samples")) as string[])[1]).toBe("9");
    const status = JSON.parse((await belay(["status", runId, "--json"], env)).stdout);
    expect(status.run.status).toBe("succeeded");
    expect(status.approvals.map((a: { actor: string; surface: string }) => `${a.actor}/${a.surface}`)).toEqual(["bob/cli", "carol/cli"]);

    const exported = JSON.parse((await belay(["audit", "export", "--run", runId, "--format", "json"], env)).stdout);
    expect(exported.events.map((e: { kind: string }) => e.kind)).toEqual([
      "run.proposed",
      "params.bound",
      "step.started",
      "step.succeeded",
      "step.previewed",
      "step.awaiting_approval",
      "approval.refused",
      "step.approved",
      "step.approved",
      "step.started",
      "step.executed",
      "step.verified",
      "step.succeeded",
      "run.succeeded",
    ]);
    const md = (await belay(["audit", "export", "--run", runId], env)).stdout;
    expect(md).toContain("| carol (cli) | step.approved | set-samples | approved (high risk; 2/2, enough) |");
    const verify = await belay(["audit", "verify"], env);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^audit chain intact: \d+ events, head [0-9a-f]{64}/);
  });

  it("aborts from the terminal, and refuses what does not make sense with a clear message", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=11", "--as", "alice"], env);
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    expect((await belay(["abort", runId, "--as", "dave"], env)).stdout).toContain(`run ${runId} aborted by dave`);
    expect((await belay(["approve", runId, "set-samples", "--as", "bob"], env)).stderr).toContain("has already finished (aborted)");
    const bad = await belay(["run", "redis-samples", "--param", "samples=500", "--param", "bogus=1"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid params for redis-samples:\n  bogus: unknown param");
    expect(bad.stderr).toContain("  samples: Too big: expected number to be <=64");
    expect((await belay(["run", "redis-samples", "--param", "samples"], env)).stderr).toContain("--param samples: expected key=value");
    const unknown = await belay(["frobnicate"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it("writes runbooks and `docs --check` fails when one is stale", async () => {
    const out = join(dir, "runbooks");
    const first = await belay(["docs", "--check", "--out", out], env);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain("redis-samples.md is missing");
    expect((await belay(["docs", "--out", out], env)).code).toBe(0);
    expect((await belay(["docs", "--check", "--out", out], env)).code).toBe(0);
    const text = readFileSync(join(out, "redis-samples.md"), "utf8");
    expect(text).toContain("### 2. set-samples (act, high risk)");
    expect(text).toContain("redis-cli CONFIG SET maxmemory-samples {samples}");
    writeFileSync(join(out, "redis-samples.md"), `${text}\nhand edit\n`);
    const stale = await belay(["docs", "--check", "--out", out], env);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("redis-samples.md is out of date");
  });
});

describe("the belay CLI on the embedded store", { timeout: 120_000 }, () => {
  it("dry-runs a playbook with nothing configured but a data directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "belay-cli-pglite-"));
    try {
      writeFileSync(join(dir, "belay.yaml"), "targets:\n  redis:\n    cache:\n      url: redis://127.0.0.1:6379\n");
      const env = { DATABASE_URL: "", BELAY_DATA_DIR: join(dir, "data"), BELAY_PLAYBOOKS_DIR: PLAYBOOKS, BELAY_CONFIG: join(dir, "belay.yaml") };
      const r = await belay(["run", "redis-samples", "--param", "samples=3", "--dry-run"], env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("dry run: nothing will change");
      expect(r.stdout).toMatch(/set-samples \[HIGH\]: previewed \(dry run\)/);
      expect(r.stdout).toContain("status previewed");
      expect((await belay(["audit", "verify"], env)).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
