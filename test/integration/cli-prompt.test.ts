import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPgDatabase } from "../helpers/db.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));
const PLAYBOOKS = fileURLToPath(new URL("../fixtures/cli-playbooks", import.meta.url));
const LOGIN = { alice: { name: "games", uid: 5 }, bob: { name: "daemon", uid: 1 }, carol: { name: "nobody", uid: 65534 } } as const;
type Who = keyof typeof LOGIN;

interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The real belay as `who`, its stdin left open: a person sitting at the prompt, not answering. */
function start(args: string[], env: Record<string, string>, who: Who): Running {
  const { uid } = LOGIN[who];
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: tmpdir(), ...env }, stdio: ["pipe", "pipe", "pipe"], uid, gid: uid });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d));
  child.stderr.on("data", (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until(what: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function once(args: string[], env: Record<string, string>, who: Who): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = start(args, env, who);
  r.child.stdin.end();
  const code = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

describe("a terminal waiting at an approval prompt notices decisions made elsewhere (two processes, one Postgres store)", { timeout: 120_000 }, () => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  let ownRedis: OwnRedis;
  let dir: string;

  beforeAll(async () => {
    const fresh = await freshPgDatabase("cli_prompt");
    drop = fresh.drop;
    ownRedis = await startOwnRedis();
    dir = mkdtempSync(join(tmpdir(), "belay-cli-prompt-"));
    chmodSync(dir, 0o755);
    const people = Object.entries(LOGIN).map(([id, l]) => `  ${id}: { login: ${l.name} }`).join("\n");
    writeFileSync(join(dir, "belay.yaml"), `targets:\n  redis:\n    cache:\n      url: ${ownRedis.url}\npeople:\n${people}\n`);
    env = { DATABASE_URL: fresh.url, BELAY_PLAYBOOKS_DIR: PLAYBOOKS, BELAY_CONFIG: join(dir, "belay.yaml"), BELAY_LOG_LEVEL: "warn" };
  });
  afterAll(async () => {
    await ownRedis?.stop();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an abort from another terminal ends the prompt and says so", async () => {
    const a = start(["run", "redis-samples", "--param", "samples=8"], env, "alice");
    await until(() => /Approve set-samples as alice\?.*: $/.test(a.stdout()));
    const runId = /run (run_[0-9a-z]+)/.exec(a.stdout())![1]!;
    const b = await once(["abort", runId, "--reason", "wrong cache", "--json"], env, "bob");
    expect(b.code).toBe(0);
    // --json: the decision and the run on stdout, the message on stderr
    expect(JSON.parse(b.stdout)).toMatchObject({ decision: "abort", accepted: true, run: { run: { id: runId } } });
    expect(b.stderr).toContain(`run ${runId}`);
    // failed before: alice's prompt sat there until stdin closed, then said the run was waiting
    const code = await Promise.race([a.exited, new Promise((r) => setTimeout(() => r("still waiting"), 15_000))]);
    if (code === "still waiting") a.child.kill();
    expect(code).toBe(1);
    expect(a.stdout()).toMatch(/Decided elsewhere: set-samples (abort requested|aborted) by bob \(cli\)/);
    expect(a.stdout()).toContain("status aborted");
  });

  it("approvals from two other terminals: the first is noted, the second ends the prompt and the run finishes", async () => {
    const a = start(["run", "redis-samples", "--param", "samples=10"], env, "alice");
    await until(() => /Approve set-samples as alice\?.*: $/.test(a.stdout()));
    const runId = /run (run_[0-9a-z]+)/.exec(a.stdout())![1]!;
    expect((await once(["approve", runId, "set-samples", "--plan", /plan ([0-9a-f]{64})/.exec(a.stdout())![1]!, "--no-wait"], env, "bob")).code).toBe(0);
    await until(() => a.stdout().includes("bob (cli) approved set-samples elsewhere; more approvals are still needed"), 10_000);
    const carol = start(["approve", runId, "set-samples"], env, "carol");
    await until(() => /\[y\/N\]: $/.test(carol.stdout()));
    carol.child.stdin.end("y\n");
    expect(await carol.exited).toBe(0);
    const code = await Promise.race([a.exited, new Promise((r) => setTimeout(() => r("still waiting"), 20_000))]);
    if (code === "still waiting") a.child.kill();
    expect(a.stdout()).toContain("Decided elsewhere: set-samples approved by carol (cli)");
    expect(code).toBe(0);
    expect(a.stdout()).toContain("status succeeded");
  });
});
