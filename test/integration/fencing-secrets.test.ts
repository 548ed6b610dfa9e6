import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/execute/engine.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { bob, carol, testEngine } from "../helpers/engine.ts";

/**
 * Execution inputs the store's copy hides (a DSN's password in a param, an output, a
 * preview's data) live only as long as the run: sealed in the store (with a key) or in the
 * proposing process's memory (without one), and cleared on every path that ends the run:
 * the runner's own commits, and a person's deny or abort.
 */
const dsn = "postgres://app:s3cret-pw@db:5432/app";

function dsnPlaybook(opts: { failRead?: boolean } = {}) {
  return playbook({ id: "dsn", title: "DSN", summary: "Reads a DSN, then writes it.", failureModes: [], params: z.object({ dsn: z.string() }) })
    .diagnose("read", ({ params }) => {
      if (opts.failRead) throw new Error("cannot read");
      return { url: params.dsn };
    })
    .act("write", {
      risk: "low",
      permissions: ["cm:write"],
      locks: { none: "a test step: it changes nothing another run could change" },
      preview: ({ params }) => ({ summary: "write the DSN back", data: { value: params.dsn } }),
      run: () => ({ ok: true }),
      verify: () => true,
      irreversible: "a test",
    });
}

describe("sealed inputs end with the run (Postgres)", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pg", "sealed");
  });
  afterAll(async () => {
    await store.close();
  });

  const sealedOf = async (runId: string) =>
    (
      await store.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM steps WHERE run_id = $1 AND (sealed_output IS NOT NULL OR sealed_preview_data IS NOT NULL)",
        [runId],
      )
    ).rows[0]!.n;
  const secretsOf = async (runId: string) => (await store.db.query<{ n: number }>("SELECT count(*)::int AS n FROM run_secrets WHERE run_id = $1", [runId])).rows[0]!.n;

  async function waiting(engine: Engine): Promise<{ runId: string; planHash: string }> {
    const { runId } = await engine.propose({ playbookId: "dsn", params: { dsn }, requestedBy: "alice", surface: "cli" });
    const v = await engine.drive(runId);
    expect(v.run.status).toBe("awaiting_approval");
    expect(await sealedOf(runId)).toBe(2); // read's output and write's preview data
    expect(await secretsOf(runId)).toBe(1);
    return { runId, planHash: v.run.planHash };
  }

  it("with a key: a run that ends in the runner clears its steps' sealed output and preview data", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [dsnPlaybook()] });
    const { runId, planHash } = await waiting(engine);
    expect((await engine.decide({ kind: "approve", runId, step: "write", actor: bob, planHash })).accepted).toBe(true);
    expect((await engine.drive(runId)).run.status).toBe("succeeded");
    expect(await sealedOf(runId)).toBe(0);
    expect(await secretsOf(runId)).toBe(0);
  });

  it("with a key: a denied run and an aborted run clear them too", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [dsnPlaybook()] });
    const denied = await waiting(engine);
    expect((await engine.decide({ kind: "deny", runId: denied.runId, step: "write", actor: bob, reason: "no" })).accepted).toBe(true);
    expect(await sealedOf(denied.runId)).toBe(0);
    expect(await secretsOf(denied.runId)).toBe(0);
    const aborted = await waiting(engine);
    expect((await engine.decide({ kind: "abort", runId: aborted.runId, actor: carol })).accepted).toBe(true);
    expect((await engine.view(aborted.runId)).run.status).toBe("aborted");
    expect(await sealedOf(aborted.runId)).toBe(0);
    expect(await secretsOf(aborted.runId)).toBe(0);
  });

  it("without a key: the values held in memory are forgotten whichever way the run ends", async () => {
    const cache = (e: Engine) => (e as unknown as { secrets: Map<string, unknown> }).secrets;
    // Ended by the runner's own commit of a failed step (not through `finish`).
    const { engine: failing } = testEngine({ db: store.db, playbooks: [dsnPlaybook({ failRead: true })], extra: { keyring: undefined } });
    const f = await failing.propose({ playbookId: "dsn", params: { dsn }, requestedBy: "alice", surface: "cli" });
    expect(cache(failing).has(f.runId)).toBe(true);
    expect((await failing.drive(f.runId)).run.status).toBe("failed");
    expect(cache(failing).has(f.runId)).toBe(false);
    // Ended by a person: deny, abort.
    const { engine } = testEngine({ db: store.db, playbooks: [dsnPlaybook()], extra: { keyring: undefined } });
    for (const kind of ["deny", "abort"] as const) {
      const { runId } = await engine.propose({ playbookId: "dsn", params: { dsn }, requestedBy: "alice", surface: "cli" });
      expect((await engine.drive(runId)).run.status).toBe("awaiting_approval");
      expect(cache(engine).has(runId)).toBe(true);
      const d = kind === "deny" ? await engine.decide({ kind, runId, step: "write", actor: bob }) : await engine.decide({ kind, runId, actor: carol });
      expect(d.accepted).toBe(true);
      expect(cache(engine).has(runId)).toBe(false);
    }
  });
  it("a deny's or an abort's reason is stored redacted, like every other reason", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [dsnPlaybook()] });
    const reasonOf = async (runId: string) =>
      (await store.db.query<{ r: string; e: string | null }>("SELECT r.status_reason AS r, (SELECT string_agg(coalesce(error, ''), ' ') FROM steps WHERE run_id = r.id) AS e FROM runs r WHERE r.id = $1", [runId])).rows[0]!;
    const denied = (await engine.propose({ playbookId: "dsn", params: { dsn: "x" }, requestedBy: "alice", surface: "cli" })).runId;
    await engine.drive(denied);
    expect((await engine.decide({ kind: "deny", runId: denied, step: "write", actor: bob, reason: `it would write ${dsn}` })).accepted).toBe(true);
    const aborted = (await engine.propose({ playbookId: "dsn", params: { dsn: "x" }, requestedBy: "alice", surface: "cli" })).runId;
    await engine.drive(aborted);
    expect((await engine.decide({ kind: "abort", runId: aborted, actor: carol, reason: `stale DSN ${dsn}` })).accepted).toBe(true);
    for (const id of [denied, aborted]) {
      const row = await reasonOf(id);
      expect(`${row.r} ${row.e ?? ""}`).not.toContain("s3cret-pw");
      expect(row.r).toContain("postgres://app:[redacted]@db:5432/app");
    }
  });
});
