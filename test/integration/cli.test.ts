import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPgDatabase } from "../helpers/db.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));
const PLAYBOOKS = fileURLToPath(new URL("../fixtures/cli-playbooks", import.meta.url));

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Real OS logins of this machine, one per person: the terminal's identity is the login the
 * OS reports, so each person's commands run as a different user (the tests run as root).
 */
const LOGIN = { alice: { name: "games", uid: 5 }, bob: { name: "daemon", uid: 1 }, carol: { name: "nobody", uid: 65534 }, ops: { name: "root", uid: 0 } } as const;
type Who = keyof typeof LOGIN;
const PEOPLE = `people:\n${Object.entries(LOGIN).map(([id, l]) => `  ${id}: { login: ${l.name} }`).join("\n")}\n`;

/** Runs the real `belay` binary as `who`'s OS login, feeding `input` to its prompts one line at a time. */
function belay(args: string[], env: Record<string, string>, input: string[] = [], who: Who = "ops"): Promise<Out> {
  return new Promise((resolve) => {
    const { uid } = LOGIN[who];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: tmpdir(), ...env }, stdio: ["pipe", "pipe", "pipe"], uid, gid: uid });
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

// The playbook under test CONFIG SETs maxmemory-samples: on a Redis of this file's own, never the shared 6379.
describe("the belay CLI against Postgres and a Redis of its own", { timeout: 120_000 }, () => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  let ownRedis: OwnRedis;
  let redis: Redis;
  let original: string;
  let dir: string;

  beforeAll(async () => {
    const fresh = await freshPgDatabase("cli");
    drop = fresh.drop;
    ownRedis = await startOwnRedis();
    dir = mkdtempSync(join(tmpdir(), "belay-cli-"));
    chmodSync(dir, 0o755); // every person's login reads the config
    writeFileSync(join(dir, "belay.yaml"), `targets:\n  redis:\n    cache:\n      url: ${ownRedis.url}\n${PEOPLE}approval:\n  breakGlass: { allowed: [ops] }\n`);
    env = { DATABASE_URL: fresh.url, BELAY_PLAYBOOKS_DIR: PLAYBOOKS, BELAY_CONFIG: join(dir, "belay.yaml"), BELAY_LOG_LEVEL: "warn" };
    redis = new Redis(ownRedis.url);
    original = ((await redis.config("GET", "maxmemory-samples")) as string[])[1]!;
  });
  afterAll(async () => {
    await redis.config("SET", "maxmemory-samples", original);
    redis.disconnect();
    await ownRedis?.stop();
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

  it("one terminal is one person: the requester cannot approve for someone else, and \"other approver\" is break-glass", async () => {
    // Replaces a test where one stdin answered as alice, then bob, then carol, and the step ran.
    const r = await belay(["run", "redis-samples", "--param", "samples=7"], env, ["y", "o", "bob", "bob is on the phone"], "alice");
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/Step set-samples \(high risk\) will:\nmaxmemory-samples \d+ -> 7/);
    expect(r.stdout).toContain("alice asked for this run and may not approve its high-risk steps");
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("refused: alice (login games) may not act for bob: break-glass is configured and only ops may");
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    // ops may break glass, but not to approve a run ops asked for
    const own = await belay(["run", "redis-samples", "--param", "samples=7"], env, ["o", "bob", "bob is on the phone"], "ops");
    expect(own.stdout).toContain("refused: ops asked for this run and may not approve its high-risk steps (not for someone else either)");
    expect(own.code).toBe(3);
    const status = JSON.parse((await belay(["status", runId, "--json"], env)).stdout);
    expect(status.run.requestedBy).toBe("alice");
    expect(status.approvals).toEqual([]);
    expect(status.run.status).toBe("awaiting_approval"); // nothing ran
  });

  it("counts an operator's break-glass as one approval: --as bob then --as carol does not make two", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=13"], env, [], "alice");
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    const noReason = await belay(["approve", runId, "set-samples", "--as", "bob"], env);
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain('--as bob is break-glass: give --reason');
    const asBob = await belay(["approve", runId, "set-samples", "--as", "bob", "--reason", "bob is on the phone"], env, ["y"]);
    expect(asBob.stderr).toBe("");
    expect(asBob.stdout).toContain("bob approved set-samples; 1 more approval(s) needed");
    const asCarol = await belay(["approve", runId, "set-samples", "--as", "carol", "--reason", "carol too"], env, ["y"]);
    expect(asCarol.code).toBe(1);
    expect(asCarol.stderr).toContain("refused: ops already gave an approval of this step (as bob)");
    const self = await belay(["approve", runId, "set-samples"], env, ["y"]);
    expect(self.stderr).toContain("refused: ops already gave an approval of this step (as bob)");
    // bob's own login may not break glass (only ops may), so he cannot approve for carol either
    const bobForCarol = await belay(["approve", runId, "set-samples", "--as", "carol", "--reason", "x"], env, ["y"], "bob");
    expect(bobForCarol.stderr).toContain("refused: bob (login daemon) may not act for carol: break-glass is configured and only ops may");
    let status = JSON.parse((await belay(["status", runId, "--json"], env)).stdout);
    expect(status.run.status).toBe("awaiting_approval");

    const carol = await belay(["approve", runId, "set-samples"], env, ["y"], "carol");
    expect(carol.stdout).toContain("set-samples approved by bob and carol; it runs now");
    expect(((await redis.config("GET", "maxmemory-samples")) as string[])[1]).toBe("13");
    status = JSON.parse((await belay(["status", runId, "--json"], env)).stdout);
    expect(status.run.status).toBe("succeeded");
    expect(status.approvals.map((a: { actor: string; authenticatedAs: string; breakGlass: unknown }) => [a.actor, a.authenticatedAs, a.breakGlass !== null])).toEqual([
      ["bob", "ops", true],
      ["carol", "carol", false],
    ]);
    expect(status.approvals[0].breakGlass).toEqual({ by: "ops", login: "root", host: hostname(), reason: "bob is on the phone" });
    expect(status.approvals[1].auth).toEqual({ method: "os", login: "nobody", host: hostname() });

    const exported = JSON.parse((await belay(["audit", "export", "--run", runId, "--format", "json"], env)).stdout);
    const glass = exported.events.filter((e: { kind: string }) => e.kind === "break_glass.used");
    expect(glass).toEqual([expect.objectContaining({ actor: "ops", surface: "cli", step: "set-samples", data: { decision: "approve", onBehalfOf: "bob", login: "root", host: hostname(), reason: "bob is on the phone" } })]);
    const approved = exported.events.find((e: { kind: string; actor: string }) => e.kind === "step.approved" && e.actor === "bob");
    expect(approved.data.principal.breakGlass).toMatchObject({ by: "ops", login: "root" });
    expect(exported.events.filter((e: { kind: string }) => e.kind === "approval.refused").map((e: { data: { code: string } }) => e.data.code)).toEqual(["already_approved", "already_approved", "break_glass_refused"]);
    const md = (await belay(["audit", "export", "--run", runId], env)).stdout;
    expect(md).toContain(`| ops (cli) | break_glass.used | set-samples | BREAK-GLASS approve for bob by login root on ${hostname()}: bob is on the phone |`);
  });

  it("counts a person's Slack user groups at the terminal, looked up by belay", async () => {
    // Slack's Web API, as the child belay reaches it through SLACK_API_URL: bob is in @sre, carol is not.
    const asked: string[] = [];
    const fake = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const group = new URLSearchParams(body).get("usergroup") ?? "";
        asked.push(`${req.url} ${group}`);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(req.url === "/api/usergroups.users.list" ? { ok: true, users: group === "S0SRE" ? ["UBOB"] : [] } : { ok: false, error: "unknown_method" }));
      });
    });
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (fake.address() as { port: number }).port;
      const config = join(dir, "groups.yaml");
      writeFileSync(
        config,
        `targets:\n  redis:\n    cache:\n      url: ${ownRedis.url}\npeople:\n  alice: { login: games }\n  bob: { login: daemon, slack: UBOB }\n  carol: { login: nobody, slack: UCAROL }\napproval:\n  risks:\n    high: { groups: [sre], required: 1 }\nslack:\n  usergroups: { sre: S0SRE }\n`,
      );
      const slackEnv = { ...env, BELAY_CONFIG: config, SLACK_BOT_TOKEN: "xoxb-test-cli", SLACK_API_URL: `http://127.0.0.1:${port}/api/` };
      const r = await belay(["run", "redis-samples", "--param", "samples=5"], slackEnv, [], "alice");
      const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
      const carol = await belay(["approve", runId, "set-samples", "--no-wait"], slackEnv, ["y"], "carol");
      expect(carol.stderr).toContain("refused: carol may not approve high-risk steps; approvers are group sre");
      const bob = await belay(["approve", runId, "set-samples", "--no-wait"], slackEnv, ["y"], "bob");
      expect(bob.stderr).toBe("");
      expect(bob.stdout).toContain("set-samples approved by bob; it runs now");
      expect(asked).toEqual(["/api/usergroups.users.list S0SRE", "/api/usergroups.users.list S0SRE"]);
    } finally {
      await new Promise<void>((r) => fake.close(() => r()));
    }
  });

  it("refuses --group: groups come from the config or Slack, never from the caller", async () => {
    const r = await belay(["approve", "run_whatever", "set-samples", "--group", "sre"], env, [], "bob");
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      "--group is gone: nobody's groups are taken from the command line. Groups come from approval.groups in BELAY_CONFIG or from Slack user groups (slack.usergroups).",
    );
    expect((await belay(["run", "redis-samples", "--param", "samples=3", "--as", "bob"], env, [], "alice")).stderr).toContain("--as is gone");
  });

  it("refuses `drill run --as`: the drill's starter is the login that typed it, so they cannot approve its injection as themselves", async () => {
    const r = await belay(["drill", "run", "redis-maxmemory", "--as", "bob", "--reason", "bob is asleep"], env, [], "alice");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("belay drill run: --as is not accepted");
  });

  it("parks a run when nobody answers, and finishes it from `belay approve` in other terminals", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=9"], env, [], "alice");
    expect(r.code).toBe(3);
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    expect(r.stdout).toContain(`belay approve ${runId} set-samples`);
    const self = await belay(["approve", runId, "set-samples"], env, ["y"], "alice");
    expect(self.code).toBe(1);
    expect(self.stderr).toContain("refused: alice asked for this run");
    expect((await belay(["approve", runId, "set-samples"], env, ["y"], "bob")).stdout).toContain("1 more approval(s) needed");
    const last = await belay(["approve", runId, "set-samples"], env, ["y"], "carol");
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

  it("`belay approve` shows the preview and the plan hash, and approves that plan only once confirmed or named with --plan", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=7"], env, [], "alice");
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    const planHash = JSON.parse((await belay(["status", runId, "--json"], env)).stdout).run.planHash as string;
    const unconfirmed = await belay(["approve", runId, "set-samples"], env, [], "bob");
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stdout).toContain(`Step set-samples of run ${runId} (redis-samples, high risk) will:`);
    expect(unconfirmed.stdout).toContain("maxmemory-samples");
    expect(unconfirmed.stdout).toContain(`plan ${planHash}`);
    expect(unconfirmed.stderr).toContain(`not approved: nobody confirmed the plan. Answer y, or pass --plan ${planHash}`);
    const no = await belay(["approve", runId, "set-samples"], env, ["n"], "bob");
    expect(no.stderr).toContain('not approved: answered "n"');
    const stale = await belay(["approve", runId, "set-samples", "--plan", "0".repeat(64)], env, [], "bob");
    expect(stale.stderr).toContain("refused: the plan changed since it was shown");
    let status = JSON.parse((await belay(["status", runId, "--json"], env)).stdout);
    expect(status.approvals).toEqual([]);
    const byHash = await belay(["approve", runId, "set-samples", "--plan", planHash.slice(0, 12)], env, [], "bob");
    expect(byHash.stdout).toContain("bob approved set-samples; 1 more approval(s) needed");
    status = JSON.parse((await belay(["status", runId, "--json"], env)).stdout);
    expect(status.approvals.map((a: { actor: string; planHash: string }) => [a.actor, a.planHash])).toEqual([["bob", planHash]]);
    await belay(["abort", runId], env, [], "bob");
  });

  it("the plan hash `belay run` prints is the one approvals bind to; status shows it; a 7-character prefix of the hash and of the run id is accepted", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=6"], env, [], "alice");
    expect(r.code).toBe(3);
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    // The first hash the terminal shows: approving it must approve this run (failed before: it was the hash before previews, refused as stale).
    const printed = /plan ([0-9a-f]{12,64})/.exec(r.stdout)![1]!;
    const status = await belay(["status", runId.slice(0, 9)], env);
    expect(status.code).toBe(0);
    const planHash = JSON.parse((await belay(["status", runId, "--json"], env)).stdout).run.planHash as string;
    expect(status.stdout).toContain(`plan ${planHash}`);
    expect(planHash.startsWith(printed)).toBe(true);
    const bob = await belay(["approve", runId.slice(0, 8), "set-samples", "--plan", printed.slice(0, 7), "--no-wait"], env, [], "bob");
    expect(bob.stderr).toBe("");
    expect(bob.stdout).toContain("bob approved set-samples; 1 more approval(s) needed");
    const short = await belay(["approve", runId, "set-samples", "--plan", printed.slice(0, 5)], env, [], "carol");
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("give at least 7 characters");
    await belay(["abort", runId], env, [], "bob");
  });

  it("aborts from the terminal, and refuses what does not make sense with a clear message", async () => {
    const r = await belay(["run", "redis-samples", "--param", "samples=11"], env, [], "alice");
    const runId = /run (run_[0-9a-z]+)/.exec(r.stdout)![1]!;
    expect((await belay(["abort", runId], env, [], "bob")).stdout).toContain(`run ${runId} aborted by bob`);
    expect((await belay(["approve", runId, "set-samples"], env, [], "carol")).stderr).toContain("has already finished (aborted)");
    const bad = await belay(["run", "redis-samples", "--param", "samples=500", "--param", "bogus=1"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid params for redis-samples:\n  bogus: unknown param");
    expect(bad.stderr).toContain("  samples must be at most 64 (got 500)"); // plain words, not zod's "Too big: expected number to be <=64"
    expect((await belay(["run", "redis-samples", "--param", "samples"], env)).stderr).toContain("--param samples: expected key=value");
    const unknown = await belay(["frobnicate"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });

  it("does not start with a misspelt config key, and says which", async () => {
    const bad = join(dir, "typo.yaml");
    writeFileSync(bad, "approvals:\n  risks:\n    high: { required: 3 }\n");
    const r = await belay(["runs"], { ...env, BELAY_CONFIG: bad });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("approvals: unknown key (did you mean approval?)");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("`belay serve` says loudly when the default approval policy is in force", async () => {
    const serveOnce = (config: string) =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--host", "127.0.0.1"], { env: { ...process.env, ...env, BELAY_CONFIG: config }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        const collect = (d: Buffer) => {
          out += d;
          if (out.includes("Drills:")) child.kill("SIGTERM");
        };
        child.stdout.on("data", collect);
        child.stderr.on("data", collect);
        child.on("exit", () => resolve(out));
      });
    const loud = await serveOnce(env.BELAY_CONFIG!);
    expect(loud).toContain("  !! DEFAULT APPROVAL POLICY in force: any one person may approve low and medium risk, any two (never the requester) high risk.");
    expect(loud).toMatch(/"level":(40|"warn").*DEFAULT APPROVAL POLICY/);
    const configured = join(dir, "configured.yaml");
    writeFileSync(configured, "approval:\n  risks:\n    high: { required: 3 }\n");
    expect(await serveOnce(configured)).not.toContain("DEFAULT APPROVAL POLICY");
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
