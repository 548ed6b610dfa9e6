import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnchor, macOf, signPending, verifyMacs } from "../../src/audit/anchor.ts";
import { appendAudit, hashBody, verifyChain, type AuditRow } from "../../src/audit/chain.ts";
import { auditCommand } from "../../src/cli/audit.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { newId } from "../../src/ids.ts";
import { auditHead } from "../../src/store/audit-macs.ts";
import { fakeService, servicePlaybook } from "../fixtures/playbooks.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

/**
 * Anchoring the chain outside the database. The attacker owns the database: as superuser they
 * switch off the append-only trigger, rewrite the newest event, recompute its hash and the
 * head row. The chain alone then verifies; the MACs (keyed outside the database) and a head
 * published earlier (`--expect-head`) catch it.
 */
const KEY = "k".repeat(16) + "0123456789abcdef0123456789abcdef";
let store: TestStore;

beforeAll(async () => {
  store = await openTestStore("pg", "audit_anchor");
});
afterAll(async () => {
  await store.close();
});

const append = (n: number, note: string) =>
  store.db.transaction((tx) =>
    appendAudit(
      tx,
      Array.from({ length: n }, (_, i) => ({ kind: "step.approved", actor: `user${i}`, surface: "slack", runId: "run_a", step: "restart", data: { n: i, note } })),
      { now: new Date(), newId: () => newId("evt") },
    ),
  );

function cli(env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env, ask: async () => null, user: () => "tester", host: () => "test-host", close: () => {} };
  return { io, out, err, text: () => [...out, ...err].join("\n") };
}
const cliEnv = () => ({ DATABASE_URL: store.url!, BELAY_AUDIT_HMAC_KEY: KEY });

/** What a database owner can do: around the trigger, in one transaction. */
async function rewriteNewest(note: string): Promise<number> {
  const [last] = (await store.db.query<AuditRow>("SELECT seq, id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).rows;
  const data = JSON.stringify({ n: 0, note });
  const hash = hashBody(last!.prev_hash, { ...last!, data });
  await store.db.transaction(async (tx) => {
    await tx.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
    await tx.query("UPDATE audit_events SET data = $2, hash = $3 WHERE seq = $1", [last!.seq, data, hash]);
    await tx.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
    await tx.query("UPDATE audit_head SET hash = $1", [hash]);
  });
  return Number(last!.seq);
}

describe("audit anchoring", () => {
  it("the database refuses UPDATE and DELETE of events and of their MACs", async () => {
    await append(2, "setup");
    await signPending(store.db, KEY);
    await expect(store.db.query("UPDATE audit_events SET actor = 'mallory'")).rejects.toThrow(/append-only/);
    await expect(store.db.query("UPDATE audit_macs SET mac = 'x'")).rejects.toThrow(/audit_macs is append-only/);
    await expect(store.db.query("DELETE FROM audit_macs")).rejects.toThrow(/append-only/);
  });

  it("signs events committed by the engine's SQL commit and by appends; verify reports pending ones", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())] });
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "cli" });
    await engine.drive(runId);
    const signed = await signPending(store.db, KEY);
    expect(signed).not.toHaveProperty("refused");
    expect(signed.signed).toBeGreaterThan(2);
    await append(3, "later");
    const report = await verifyMacs(store.db, KEY);
    expect(report).toMatchObject({ ok: true, pending: 3, bad: [], missing: [], orphans: [] });
    const c = cli(cliEnv());
    expect(await auditCommand(["verify"], c.io)).toBe(0);
    expect(c.text()).toMatch(/MACs: \d+ signed, 3 not signed yet, none bad/);
    // The anchor of `belay serve` signs soon after commit and publishes the head.
    const posted: string[] = [];
    const logged: unknown[] = [];
    const anchor = createAnchor({ db: store.db, key: KEY, logger: { info: (o) => logged.push(o), warn() {}, error() {}, debug() {} }, publish: async (t) => void posted.push(t) });
    anchor.onEvents();
    const head = await anchor.publishHead();
    expect(head).toEqual(await auditHead(store.db).then((h) => ({ seq: h.seq, hash: h.hash, events: h.events })));
    expect(posted[0]).toContain(`--expect-head ${head!.hash}`);
    expect(logged).toContainEqual({ auditHead: { seq: head!.seq, hash: head!.hash, events: head!.events } });
    expect(await anchor.publishHead()).toBeNull(); // unchanged head: not posted again
    expect((await verifyMacs(store.db, KEY)).pending).toBe(0);
  });

  it("a database owner rewriting the head row and recomputing its hash is caught by the MAC and by --expect-head", async () => {
    await append(2, "before publish");
    await signPending(store.db, KEY);
    const published = await auditHead(store.db);
    const seq = await rewriteNewest("nothing to see here");

    // The hash chain alone cannot tell: it was recomputed.
    expect((await verifyChain(store.db)).ok).toBe(true);
    // The MAC was made over the old hash, with a key the database never saw.
    expect(await verifyMacs(store.db, KEY)).toMatchObject({ ok: false, bad: [{ seq, problem: "rewritten" }] });
    const c = cli(cliEnv());
    expect(await auditCommand(["verify"], c.io)).toBe(1);
    expect(c.err.join("\n")).toMatch(new RegExp(`event #${seq} .*rewritten after it was signed`));

    // Without the key, the published head still catches it.
    const noKey = cli({ DATABASE_URL: store.url! });
    expect(await auditCommand(["verify", "--expect-head", published.hash], noKey.io)).toBe(1);
    expect(noKey.err.join("\n")).toMatch(/does NOT descend from the expected head/);
  });

  it("--expect-head passes for an earlier head the chain descends from, and refuses a bad argument", async () => {
    const fresh = await openTestStore("pg", "audit_anchor_head");
    try {
      const env = { DATABASE_URL: fresh.url! };
      await fresh.db.transaction((tx) => appendAudit(tx, [{ kind: "run.proposed", actor: "a", surface: "cli", data: {} }], { now: new Date(), newId: () => newId("evt") }));
      const earlier = await auditHead(fresh.db);
      await fresh.db.transaction((tx) => appendAudit(tx, [{ kind: "run.succeeded", actor: "a", surface: "cli", data: {} }], { now: new Date(), newId: () => newId("evt") }));
      const c = cli(env);
      expect(await auditCommand(["verify", "--expect-head", earlier.hash], c.io)).toBe(0);
      expect(c.out.join("\n")).toMatch(new RegExp(`descends from the expected head \\(event #${earlier.seq}\\)`));
      await expect(auditCommand(["verify", "--expect-head", "abc"], cli(env).io)).rejects.toThrow(/64-hex-digit/);
      expect(await auditCommand(["verify", "--expect-head", "f".repeat(64)], cli(env).io)).toBe(1);
    } finally {
      await fresh.close();
    }
  });

  it("a forged MAC row and a removed MAC are reported as such", async () => {
    const fresh = await openTestStore("pg", "audit_anchor_forge");
    try {
      await fresh.db.transaction((tx) =>
        appendAudit(tx, Array.from({ length: 4 }, (_, i) => ({ kind: "step.approved", actor: `u${i}`, surface: "cli", data: {} })), { now: new Date(), newId: () => newId("evt") }),
      );
      await signPending(fresh.db, KEY);
      const rows = (await fresh.db.query<{ seq: string; hash: string }>("SELECT seq, hash FROM audit_events ORDER BY seq")).rows;
      await fresh.db.transaction(async (tx) => {
        await tx.query("ALTER TABLE audit_macs DISABLE TRIGGER audit_macs_no_update_delete");
        // Forged with another key; and the MAC of the second event removed.
        await tx.query("UPDATE audit_macs SET mac = $2 WHERE seq = $1", [rows[0]!.seq, macOf("mallory".repeat(6), Number(rows[0]!.seq), rows[0]!.hash)]);
        await tx.query("DELETE FROM audit_macs WHERE seq = $1", [rows[1]!.seq]);
        await tx.query("ALTER TABLE audit_macs ENABLE TRIGGER audit_macs_no_update_delete");
      });
      const r = await verifyMacs(fresh.db, KEY);
      expect(r).toMatchObject({ ok: false, bad: [{ seq: Number(rows[0]!.seq), problem: "forged_mac" }], missing: [Number(rows[1]!.seq)], pending: 0 });
      // signPending never fills a removed MAC back in: it signs after the newest signed event only.
      expect((await signPending(fresh.db, KEY)).signed).toBe(0);
    } finally {
      await fresh.close();
    }
  });
});
