import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnchor, macOf, signPending, verifyMacs } from "../../src/audit/anchor.ts";
import { appendAudit, hashBody, verifyChain, type AuditRow } from "../../src/audit/chain.ts";
import { auditVerify } from "../../src/cli/audit.ts";
import { memoryIo } from "../../src/cli/io.ts";
import { newId } from "../../src/ids.ts";
import { auditHead, insertMacs } from "../../src/store/audit-macs.ts";
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
  const io = { ...memoryIo(env), out: (l: string) => void out.push(l), err: (l: string) => void err.push(l) };
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
    expect(await auditVerify({}, c.io)).toBe(0);
    expect(c.text()).toMatch(/MACs: \d+ signed, 3 not signed yet, none bad/);
    // The anchor of `belay serve` signs soon after commit and publishes the head.
    const posted: string[] = [];
    const logged: unknown[] = [];
    const anchor = createAnchor({ db: store.db, key: KEY, logger: { info: (o) => logged.push(o), warn() {}, error() {}, debug() {} }, publish: async (t) => void posted.push(t) });
    anchor.onEvents();
    const head = await anchor.publishHead();
    expect(head).toEqual(await auditHead(store.db).then((h) => ({ seq: h.seq, hash: h.hash, events: h.events })));
    expect(posted[0]).toContain(`--expect-head ${head!.hash}`);
    expect(logged).toContainEqual({ auditHead: { seq: head!.seq, hash: head!.hash, events: head!.events }, auditSigned: { seq: head!.seq, mac: expect.stringMatching(/^[0-9a-f]{64}$/) } });
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
    expect(await auditVerify({}, c.io)).toBe(1);
    expect(c.err.join("\n")).toMatch(new RegExp(`event #${seq} .*rewritten after it was signed`));

    // Without the key, the published head still catches it.
    const noKey = cli({ DATABASE_URL: store.url! });
    expect(await auditVerify({ expectHead: published.hash }, noKey.io)).toBe(1);
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
      expect(await auditVerify({ expectHead: earlier.hash }, c.io)).toBe(0);
      expect(c.out.join("\n")).toMatch(new RegExp(`descends from the expected head \\(event #${earlier.seq}\\)`));
      await expect(auditVerify({ expectHead: "abc" }, cli(env).io)).rejects.toThrow(/64-hex-digit/);
      expect(await auditVerify({ expectHead: "f".repeat(64) }, cli(env).io)).toBe(1);
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

/** The reviewer's attack (macs.mts): around the triggers, drop the MACs from `fromSeq` on, rewrite `rewriteSeq`, re-chain everything, move the head. */
async function dropMacTailAndRewrite(db: TestStore["db"], fromSeq: number, rewriteSeq: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("ALTER TABLE audit_macs DISABLE TRIGGER USER");
    await tx.query("ALTER TABLE audit_events DISABLE TRIGGER USER");
    await tx.query("DELETE FROM audit_macs WHERE seq >= $1", [fromSeq]);
    await tx.query("UPDATE audit_events SET actor = 'mallory' WHERE seq = $1", [rewriteSeq]);
    const rows = (await tx.query<AuditRow>("SELECT seq, id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash FROM audit_events ORDER BY seq")).rows;
    let prev = rows[0]!.prev_hash;
    for (const r of rows) {
      const h = hashBody(prev, r);
      await tx.query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3", [prev, h, r.seq]);
      prev = h;
    }
    await tx.query("UPDATE audit_head SET hash = $1 WHERE id = 1", [prev]);
    await tx.query("ALTER TABLE audit_macs ENABLE TRIGGER USER");
    await tx.query("ALTER TABLE audit_events ENABLE TRIGGER USER");
  });
}

const fiveEvents = (db: TestStore["db"], now = new Date()) =>
  db.transaction((tx) =>
    appendAudit(tx, [1, 2, 3, 4, 5].map((i) => ({ kind: "step.approved", actor: i === 4 ? "bob" : "alice", surface: "slack", data: { i } })), { now, newId: () => newId("evt") }),
  );
const macCount = async (db: TestStore["db"]) => Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM audit_macs")).rows[0]!.n);

describe("audit anchoring against a database owner who removes MACs", () => {
  it("the running signer refuses to sign a chain whose MACs fell behind it, and the published MAC catches the rewrite (failed before: the signer signed the forgery, verify passed)", async () => {
    const fresh = await openTestStore("pg", "audit_anchor_tail");
    const env = { DATABASE_URL: fresh.url!, BELAY_AUDIT_HMAC_KEY: KEY };
    try {
      const info: Record<string, unknown>[] = [];
      const errors: { obj: unknown; msg: string | undefined }[] = [];
      const posted: string[] = [];
      const logger = { info: (o: object | string) => void info.push(o as Record<string, unknown>), warn() {}, error: (obj: object | string, msg?: string) => void errors.push({ obj, msg }), debug() {} };
      const anchor = createAnchor({ db: fresh.db, key: KEY, logger, publish: async (t) => void posted.push(t) });
      const events = await fiveEvents(fresh.db);
      const seqs = events.map((e) => e.seq);
      anchor.onEvents();
      const head = await anchor.publishHead();
      expect(head?.seq).toBe(seqs[4]);
      // The head line carries the newest MAC; the signing batch logged it too.
      const published = /--expect-mac (\d+:[0-9a-f]{64})/.exec(posted.at(-1) ?? "")?.[1];
      expect(published).toMatch(new RegExp(`^${seqs[4]}:`));
      expect(info).toContainEqual(expect.objectContaining({ auditSigned: { seq: seqs[4], mac: published!.split(":")[1], events: 5 } }));
      const ok = cli(env);
      expect(await auditVerify({ expectMac: published! }, ok.io)).toBe(0);
      expect(ok.out.join("\n")).toMatch(new RegExp(`holds the expected MAC of event #${seqs[4]}`));

      await dropMacTailAndRewrite(fresh.db, seqs[2]!, seqs[3]!);
      expect((await verifyChain(fresh.db)).ok).toBe(true); // the hash chain was recomputed

      // belay serve's signer remembers what it signed: it refuses, and signs nothing more.
      await fresh.db.transaction((tx) => appendAudit(tx, [{ kind: "run.proposed", actor: "carol", surface: "cli", data: {} }], { now: new Date(), newId: () => newId("evt") }));
      anchor.onEvents();
      await anchor.signNow();
      expect(await macCount(fresh.db)).toBe(2);
      expect(errors.map((e) => e.msg).join("\n")).toMatch(new RegExp(`refused.*#${seqs[4]}.*belay audit verify --expect-mac ${published}`, "s"));
      expect(posted.at(-1)).toMatch(/anchoring stopped/);
      await anchor.stop();

      // verify with the published MAC fails: the trail no longer holds it.
      const caught = cli(env);
      expect(await auditVerify({ expectMac: published! }, caught.io)).toBe(1);
      expect(caught.err.join("\n")).toMatch(new RegExp(`does NOT hold the expected MAC of event #${seqs[4]}`));

      // A signer that remembers nothing (another process: belay audit sign) signs the forgery: still caught.
      expect(await signPending(fresh.db, KEY)).not.toHaveProperty("refused");
      const later = cli(env);
      expect(await auditVerify({ expectMac: published! }, later.io)).toBe(1);
      expect(later.err.join("\n")).toMatch(/does NOT hold the expected MAC/);
      await expect(auditVerify({ expectMac: "12:abc" }, cli(env).io)).rejects.toThrow(/SEQ:MAC/);
      await expect(auditVerify({ expectMac: published! }, cli({ DATABASE_URL: fresh.url! }).io)).rejects.toThrow(/BELAY_AUDIT_HMAC_KEY/);
    } finally {
      await fresh.close();
    }
  });

  it("unsigned events older than a minute are a failure, not pending: rewrites cannot hide among them", async () => {
    const fresh = await openTestStore("pg", "audit_anchor_stale");
    const env = { DATABASE_URL: fresh.url!, BELAY_AUDIT_HMAC_KEY: KEY };
    try {
      const events = await fiveEvents(fresh.db, new Date(Date.now() - 5 * 60_000));
      await signPending(fresh.db, KEY);
      await dropMacTailAndRewrite(fresh.db, events[2]!.seq, events[3]!.seq);
      const r = await verifyMacs(fresh.db, KEY);
      expect(r).toMatchObject({ ok: false, pending: 0, stale: events.slice(2).map((e) => e.seq), missing: [], bad: [] });
      const c = cli(env);
      expect(await auditVerify({}, c.io)).toBe(1);
      expect(c.err.join("\n")).toMatch(new RegExp(`not signed for more than 60 s.*#${events[2]!.seq}`));
    } finally {
      await fresh.close();
    }
  });

  it("a signer without memory refuses when the newest MAC row was changed to follow a rewritten event (failed before: it signed the events after it)", async () => {
    const fresh = await openTestStore("pg", "audit_anchor_lastrow");
    try {
      const events = await fiveEvents(fresh.db);
      await signPending(fresh.db, KEY);
      const last = events[4]!;
      // Rewrite the newest signed event, point its MAC row at the new hash, and chain a new event from it.
      const row = (await fresh.db.query<AuditRow>("SELECT seq, id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash FROM audit_events WHERE seq = $1", [last.seq])).rows[0]!;
      const forged = hashBody(row.prev_hash, { ...row, actor: "mallory" });
      await fresh.db.transaction(async (tx) => {
        await tx.query("ALTER TABLE audit_macs DISABLE TRIGGER USER");
        await tx.query("ALTER TABLE audit_events DISABLE TRIGGER USER");
        await tx.query("UPDATE audit_events SET actor = 'mallory', hash = $2 WHERE seq = $1", [last.seq, forged]);
        await tx.query("UPDATE audit_macs SET hash = $2 WHERE seq = $1", [last.seq, forged]);
        await tx.query("UPDATE audit_head SET hash = $1 WHERE id = 1", [forged]);
        await tx.query("ALTER TABLE audit_macs ENABLE TRIGGER USER");
        await tx.query("ALTER TABLE audit_events ENABLE TRIGGER USER");
      });
      await fresh.db.transaction((tx) => appendAudit(tx, [{ kind: "run.proposed", actor: "mallory", surface: "cli", data: {} }], { now: new Date(), newId: () => newId("evt") }));
      const r = await signPending(fresh.db, KEY);
      expect(r).toMatchObject({ signed: 0, refused: expect.stringMatching(new RegExp(`#${last.seq}`)) });
      expect(await macCount(fresh.db)).toBe(5);
    } finally {
      await fresh.close();
    }
  });

  it("MACs are chained: after the first chained MAC, a MAC made without the one before it does not verify", async () => {
    const fresh = await openTestStore("pg", "audit_anchor_chained");
    try {
      const events = await fiveEvents(fresh.db);
      await signPending(fresh.db, KEY);
      const b = events[2]!;
      // Each MAC covers the one before: event #b's MAC made on its own (as before chaining) is refused.
      await fresh.db.transaction(async (tx) => {
        await tx.query("ALTER TABLE audit_macs DISABLE TRIGGER USER");
        await tx.query("UPDATE audit_macs SET mac = $2 WHERE seq = $1", [b.seq, macOf(KEY, b.seq, b.hash)]);
        await tx.query("ALTER TABLE audit_macs ENABLE TRIGGER USER");
      });
      expect(await verifyMacs(fresh.db, KEY)).toMatchObject({ ok: false, bad: [{ seq: b.seq, problem: "forged_mac" }] });
    } finally {
      await fresh.close();
    }
  });
  it("two replicas signing in turn do not refuse each other; MACs made before chaining still verify and are chained from", async () => {
    const fresh = await openTestStore("pg", "audit_anchor_replicas");
    try {
      // MACs as belay made them before they were chained.
      const old = await fiveEvents(fresh.db);
      await insertMacs(fresh.db, old.slice(0, 3).map((e) => ({ seq: e.seq, hash: e.hash, mac: macOf(KEY, e.seq, e.hash) })));
      const errors: string[] = [];
      const logger = { info() {}, warn() {}, error: (_: object | string, msg?: string) => void errors.push(msg ?? ""), debug() {} };
      const a = createAnchor({ db: fresh.db, key: KEY, logger });
      const b = createAnchor({ db: fresh.db, key: KEY, logger });
      for (const anchor of [a, b, a, b, a]) {
        await fiveEvents(fresh.db);
        await anchor.signNow();
      }
      expect(errors).toEqual([]);
      expect(await macCount(fresh.db)).toBe(30);
      expect(await verifyMacs(fresh.db, KEY)).toMatchObject({ ok: true, signed: 30, pending: 0, bad: [] });
      await a.stop();
      await b.stop();
    } finally {
      await fresh.close();
    }
  });
});
