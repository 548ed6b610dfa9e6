import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { claimRuns } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { alice, bob, testEngine } from "../helpers/engine.ts";

/**
 * `belay serve` as Kubernetes stops it: a real child process on a Postgres of this file's
 * own, sent SIGTERM. It must say 503 "draining" on /readyz at once, claim nothing more, hand
 * a diagnose run over (lease released, not left to run out its 30 s), let the act step in
 * progress finish and record it, and exit 0 within the drain timeout.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PLAYBOOKS = join(ROOT, "test/fixtures/shutdown-playbooks");
const DRAIN_S = 10;

let store: TestStore;
let tmp: string;

beforeAll(async () => {
  store = await openTestStore("pg", "serve_shutdown");
  tmp = mkdtempSync(join(tmpdir(), "belay-shutdown-"));
});
afterAll(async () => {
  await store?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  url: string;
  out: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

async function startServe(): Promise<Served> {
  const child = spawn(process.execPath, [join(ROOT, "bin/belay.mjs"), "serve", "--port", "0", "--host", "127.0.0.1"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: store.url!,
      BELAY_PLAYBOOKS_DIR: PLAYBOOKS,
      BELAY_DATA_DIR: join(tmp, "data"),
      BELAY_DRAIN_TIMEOUT_SECONDS: String(DRAIN_S),
      BELAY_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.on("exit", (code, signal) => r({ code, signal, at: performance.now() })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  const url = await until(() => /belay listening on (http:\/\/\S+)/.exec(out)?.[1] ?? (gone ? undefined : null), 60_000, () => `belay serve did not start:\n${out}`, () => gone);
  return { child, url, out: () => out, exited };
}

async function until<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms: number,
  what: () => string,
  giveUp: () => boolean = () => false,
): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() > end || giveUp()) throw new Error(what());
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function readyz(url: string): Promise<{ status: number; body: { ok: boolean; detail: string } }> {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: (await r.json()) as { ok: boolean; detail: string } };
}

async function stepStatus(runId: string, step: string): Promise<string | undefined> {
  const r = await store.db.query<{ status: string }>("SELECT status FROM steps WHERE run_id = $1 AND name = $2", [runId, step]);
  return r.rows[0]?.status;
}

async function runRow(runId: string): Promise<{ status: string; lease_owner: string | null }> {
  const r = await store.db.query<{ status: string; lease_owner: string | null }>("SELECT status, lease_owner FROM runs WHERE id = $1", [runId]);
  return r.rows[0]!;
}

describe("belay serve on SIGTERM", () => {
  it("drains: /readyz 503 at once, a diagnose run handed over, the act step in flight finished, exit 0", async () => {
    const playbooks = await loadPlaybooks(PLAYBOOKS);
    const { engine } = testEngine({ db: store.db, playbooks: [...playbooks.values()], owner: "test-proposer" });
    const served = await startServe();
    expect((await readyz(served.url)).status).toBe(200);

    const marker = join(tmp, "marker");
    const diag = await engine.propose({ playbookId: "slow-diagnose", params: {}, requestedBy: alice.person, surface: "cli" });
    await until(async () => (await stepStatus(diag.runId, "slow-read")) === "running", 20_000, () => `the diagnose step never started:\n${served.out()}`);

    const act = await engine.propose({ playbookId: "slow-act", params: { ms: 3000, marker }, requestedBy: alice.person, surface: "cli" });
    await until(async () => (await runRow(act.runId)).status === "awaiting_approval", 20_000, () => `the act run never asked for approval:\n${served.out()}`);
    const view = await engine.view(act.runId);
    expect(await engine.decide({ kind: "approve", runId: act.runId, step: "slow-change", actor: bob, planHash: view.run.planHash })).toMatchObject({ accepted: true });
    await until(async () => (await stepStatus(act.runId, "slow-change")) === "running", 20_000, () => `the act step never started:\n${served.out()}`);

    const sentAt = performance.now();
    served.child.kill("SIGTERM");

    // Out of the Service's endpoints at once.
    const draining = await until(
      async () => {
        const r = await readyz(served.url).catch(() => null);
        return r && r.status === 503 ? r : null;
      },
      2_000,
      () => `/readyz never answered 503 while draining:\n${served.out()}`,
    );
    expect(draining.body).toMatchObject({ ok: false });
    expect(draining.body.detail).toMatch(/^draining/);
    const readyMs = performance.now() - sentAt;

    // A second engine claims the diagnose run now, not when the 30 s lease runs out.
    const claimed = await until(
      async () => (await claimRuns(store.db, { owner: "second-replica", leaseMs: 30_000, limit: 1, runId: diag.runId }))[0],
      5_000,
      () => `the diagnose run's lease was not handed over:\n${served.out()}`,
    );
    expect(claimed.previousStatus).toBe("running");
    const handOverMs = performance.now() - sentAt;

    // Nothing new is claimed while draining.
    const late = await engine.propose({ playbookId: "slow-diagnose", params: { ms: 0 }, requestedBy: alice.person, surface: "cli" });

    const exit = await served.exited;
    const shutdownMs = exit.at - sentAt;
    expect(exit, served.out()).toMatchObject({ code: 0, signal: null });
    expect(shutdownMs).toBeLessThan(DRAIN_S * 1000);
    // The act step ran to its end and is on record.
    expect(readFileSync(marker, "utf8")).toBe("changed\n");
    expect(await stepStatus(act.runId, "slow-change")).toBe("succeeded");
    expect((await runRow(act.runId)).status).toBe("succeeded");
    const kinds = await store.db.query<{ kind: string }>("SELECT kind FROM audit_events WHERE run_id = $1 ORDER BY seq", [act.runId]);
    expect(kinds.rows.map((r) => r.kind)).toEqual(expect.arrayContaining(["step.executed", "step.verified", "step.succeeded"]));
    expect(await runRow(late.runId)).toMatchObject({ status: "pending", lease_owner: null });
    expect(served.out()).toMatch(/handed over 1 \(/);
    console.log(`[shutdown with an act step in flight] /readyz 503 after ${readyMs.toFixed(0)} ms, lease handed over after ${handOverMs.toFixed(0)} ms, exit 0 after ${shutdownMs.toFixed(0)} ms`);
  }, 90_000);

  it("exits 0 promptly when idle", async () => {
    const served = await startServe();
    expect((await readyz(served.url)).status).toBe(200);
    const sentAt = performance.now();
    served.child.kill("SIGTERM");
    const exit = await served.exited;
    const shutdownMs = exit.at - sentAt;
    expect(exit, served.out()).toMatchObject({ code: 0, signal: null });
    expect(shutdownMs).toBeLessThan(3_000);
    console.log(`[idle shutdown] exit 0 after ${shutdownMs.toFixed(0)} ms`);
  }, 90_000);
});
