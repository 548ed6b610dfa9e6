import { createHmac, timingSafeEqual } from "node:crypto";
import type { Logger } from "../execute/deps.ts";
import type { Queryable } from "../store/driver.ts";
import { auditHead, eventsAfter, eventsWithMacs, insertMacs, lastMac, macBefore, macsFrom, orphanMacs, type MacRow } from "../store/audit-macs.ts";
import { hashBody } from "./chain.ts";
import { GENESIS_HASH } from "./events.ts";

/*
 * Anchoring the audit chain outside the database. The chain's hashes are computed in SQL, so
 * whoever owns the database can rewrite an event and recompute every hash after it. Anchors
 * it cannot forge:
 *  - a chain of HMACs with BELAY_AUDIT_HMAC_KEY, which the database never sees: each event's
 *    MAC covers the MAC before it, its seq and its hash. Computed by belay after commit, stored
 *    append-only in audit_macs. A MAC row cannot be replaced or dropped from the middle
 *    without the key; dropping the newest ones is caught by the two anchors below.
 *  - the signer's memory: a signing process remembers the newest MAC it made, and refuses to
 *    sign when the database's MACs no longer reach it or no longer match it;
 *  - the head (seq + hash) and the newest MAC (seq:mac), published to the log and the Slack
 *    channel: `belay audit verify --expect-head HASH --expect-mac SEQ:MAC` checks the trail
 *    still holds them.
 */

/** A MAC made before MACs were chained: over a version tag, the seq and the hash only. */
export function macOf(key: string, seq: number, hash: string): string {
  return createHmac("sha256", key).update(`belay-audit-v1\n${seq}\n${hash}`).digest("hex");
}

/** The MAC chained before the first event. */
export const GENESIS_MAC = "0".repeat(64);

/** An event's MAC: over the MAC of the event before it, its seq and its hash. */
export function chainMac(key: string, prevMac: string, seq: number, hash: string): string {
  return createHmac("sha256", key).update(`belay-audit-v2\n${prevMac}\n${seq}\n${hash}`).digest("hex");
}

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** Which kind of MAC `mac` is for (seq, hash) after `prevMac`; null: not made with this key. */
function macKind(key: string, prevMac: string, seq: number, hash: string, mac: string, legacyOk: boolean): "chained" | "legacy" | null {
  if (sameMac(mac, chainMac(key, prevMac, seq, hash))) return "chained";
  if (legacyOk && sameMac(mac, macOf(key, seq, hash))) return "legacy";
  return null;
}

/** The newest event a signer vouches for: published as `SEQ:MAC`. */
export interface Signed {
  seq: number;
  mac: string;
}

export const formatSigned = (s: Signed) => `${s.seq}:${s.mac}`;

export function parseSigned(text: string): Signed | null {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(text);
  return m ? { seq: Number(m[1]), mac: m[2]! } : null;
}

/** Unsigned events older than this are reported, not "pending": belay signs within seconds of commit. */
export const STALE_AFTER_MS = 60_000;

export type SignResult = { signed: number; upTo: number; last: Signed | null; refused?: string };

/**
 * Checks that the database's MACs still hold what this signer vouched for (`remembered`: the
 * newest MAC it made or checked) and that the newest MAC row is one this key made, over the
 * event as it is now. Returns why not, or null.
 */
async function checkSigned(db: Queryable, key: string, last: MacRow | null, remembered: Signed | null): Promise<string | null> {
  const what = "MAC rows were removed or replaced in the database";
  if (remembered) {
    if (!last || last.seq < remembered.seq) {
      return `the database's newest MAC is ${last ? `#${last.seq}` : "gone"}, but this process signed up to #${remembered.seq}: ${what}`;
    }
    // From the remembered MAC to the newest one (other replicas may have signed meanwhile): each chains from the one before.
    let prev: string | null = null;
    for (let from = remembered.seq; ; ) {
      const rows = await macsFrom(db, from, 5_000);
      for (const r of rows) {
        if (prev === null) {
          if (r.seq !== remembered.seq || !sameMac(r.mac, remembered.mac)) return `the MAC of event #${remembered.seq} is not the one this process made: ${what}`;
        } else if (!macKind(key, prev, r.seq, r.hash, r.mac, false)) {
          return `the MAC of event #${r.seq} does not chain from the one before it (not made with this key): ${what}`;
        }
        if (r.event_hash !== r.hash) return `event #${r.seq} was ${r.event_hash === null ? "deleted" : "rewritten"} after it was signed`;
        prev = r.mac;
      }
      if (prev === null) return `the MAC of event #${remembered.seq} is gone: ${what}`;
      if (rows.length < 5_000) return null;
      from = rows.at(-1)!.seq + 1;
    }
  }
  if (!last) return null;
  // No memory (a new process): the newest MAC row must be this key's, after the one before it.
  const before = await macBefore(db, last.seq);
  if (!macKind(key, before?.mac ?? GENESIS_MAC, last.seq, last.hash, last.mac, true)) {
    return `the newest MAC (event #${last.seq}) was not made with this key after the one before it: ${what}`;
  }
  const [event] = await macsFrom(db, last.seq, 1);
  if (event?.event_hash !== last.hash) return `event #${last.seq} was ${event?.event_hash ? "rewritten" : "deleted"} after it was signed`;
  return null;
}

/**
 * Signs every event after the newest signed one, in order. First the newest MAC is checked
 * (and, with `remembered`, that the database still holds the newest MAC this process made);
 * then each unsigned event's hash is recomputed from its content and its link to the event
 * before it, from the newest *signed* one on, is checked. An event that does not follow is
 * refused (and reported), never signed.
 */
export async function signPending(
  db: Queryable,
  key: string,
  opts: { batch?: number; remembered?: Signed | null; onBatch?: (last: Signed, events: number) => void } = {},
): Promise<SignResult> {
  const batch = opts.batch ?? 5_000;
  const last = await lastMac(db);
  const remembered = opts.remembered ?? null;
  const problem = await checkSigned(db, key, last, remembered);
  if (problem) return { signed: 0, upTo: last?.seq ?? 0, last: remembered, refused: problem };
  let seq = last?.seq ?? 0;
  let prev = last?.hash ?? GENESIS_HASH;
  let prevMac = last?.mac ?? GENESIS_MAC;
  let newest: Signed | null = last ? { seq: last.seq, mac: last.mac } : null;
  let signed = 0;
  for (;;) {
    const rows = await eventsAfter(db, seq, batch);
    if (rows.length === 0) return { signed, upTo: seq, last: newest };
    const macs: MacRow[] = [];
    let refused: string | null = null;
    for (const row of rows) {
      if (row.prev_hash !== prev || hashBody(row.prev_hash, row) !== row.hash) {
        refused = `event #${row.seq} (${row.id}) does not follow the signed chain: run belay audit verify`;
        break;
      }
      prevMac = chainMac(key, prevMac, row.seq, row.hash);
      macs.push({ seq: row.seq, hash: row.hash, mac: prevMac });
      prev = row.hash;
    }
    await insertMacs(db, macs);
    signed += macs.length;
    if (macs.length) {
      newest = { seq: macs.at(-1)!.seq, mac: macs.at(-1)!.mac };
      seq = newest.seq;
      opts.onBatch?.(newest, macs.length);
    }
    if (refused) return { signed, upTo: seq, last: newest, refused };
    if (rows.length < batch) return { signed, upTo: seq, last: newest };
  }
}

export interface MacReport {
  ok: boolean;
  signed: number;
  /** Unsigned events at the end, committed within the last minute: belay signs them shortly. */
  pending: number;
  /** Unsigned events at the end committed longer ago: their MACs were removed, or no signer ran. */
  stale: number[];
  staleCount: number;
  /** Unsigned events before a signed one: their MAC rows were removed. */
  missing: number[];
  /** Signed, but the MAC or the event no longer matches: forged or rewritten. */
  bad: { seq: number; id: string; problem: "rewritten" | "forged_mac" }[];
  /** MACs of events that are gone. */
  orphans: number[];
  /** With `expectMac`: whether the trail still holds that published MAC, and if not why. */
  expected?: { seq: number; held: boolean; problem?: string };
}

/**
 * Checks every event's MAC, recomputing the MAC chain from the events as they are now. Lists
 * at most `limit` of each problem. With `expectMac` (a published `SEQ:MAC`), the chain at that
 * event must still be that MAC: any rewrite up to it, signed again or not, changes it.
 */
export async function verifyMacs(
  db: Queryable,
  key: string,
  opts: { pageSize?: number; limit?: number; now?: Date; staleAfterMs?: number; expectMac?: Signed } = {},
): Promise<MacReport> {
  const pageSize = opts.pageSize ?? 10_000;
  const limit = opts.limit ?? 20;
  const staleBefore = (opts.now ?? new Date()).getTime() - (opts.staleAfterMs ?? STALE_AFTER_MS);
  const bad: MacReport["bad"] = [];
  const missing: number[] = [];
  let unsigned: { seq: number; stale: boolean }[] = []; // since the last signed event (the first `limit`)
  let unsignedRun = 0;
  let freshRun = 0;
  let signed = 0;
  let chain = GENESIS_MAC; // the MAC chain up to the event before, as it should be
  let legacyOk = true; // MACs from before chaining, until the first chained one
  let expected: MacReport["expected"] = opts.expectMac ? { seq: opts.expectMac.seq, held: false, problem: `event #${opts.expectMac.seq} is no longer in the trail` } : undefined;
  let after = 0;
  for (;;) {
    const page = await eventsWithMacs(db, after, pageSize);
    for (const e of page) {
      if (e.mac === null) {
        const stale = Date.parse(e.at) < staleBefore;
        unsignedRun++;
        if (!stale) freshRun++;
        if (unsigned.length < limit) unsigned.push({ seq: e.seq, stale });
        chain = chainMac(key, chain, e.seq, e.hash);
      } else {
        // A signed event after unsigned ones: those were signed once (signing goes in order).
        for (const u of unsigned) if (missing.length < limit) missing.push(u.seq);
        unsigned = [];
        unsignedRun = freshRun = 0;
        signed++;
        // The MAC is checked over the hash that was signed, so a genuine MAC of a rewritten event keeps the chain going.
        const kind = macKind(key, chain, e.seq, e.mac_hash!, e.mac, legacyOk);
        if (kind === null) {
          if (bad.length < limit) bad.push({ seq: e.seq, id: e.id, problem: "forged_mac" });
          chain = chainMac(key, chain, e.seq, e.hash);
        } else {
          if (e.mac_hash !== e.hash && bad.length < limit) bad.push({ seq: e.seq, id: e.id, problem: "rewritten" });
          if (kind === "chained") legacyOk = false;
          chain = e.mac;
        }
      }
      if (expected && e.seq === expected.seq) {
        const held = sameMac(chain, opts.expectMac!.mac);
        expected = held ? { seq: e.seq, held } : { seq: e.seq, held, problem: `the MAC chain at event #${e.seq} is no longer the published one: events up to it were rewritten (signed again or not)` };
      }
    }
    if (page.length < pageSize) break;
    after = page.at(-1)!.seq;
  }
  const orphans = await orphanMacs(db, limit);
  const stale = unsigned.filter((u) => u.stale).map((u) => u.seq);
  const ok = bad.length === 0 && missing.length === 0 && orphans.length === 0 && unsignedRun === freshRun && (expected?.held ?? true);
  return { ok, signed, pending: freshRun, stale, staleCount: unsignedRun - freshRun, missing, bad, orphans, ...(expected ? { expected } : {}) };
}

export interface AnchorDeps {
  db: Queryable;
  /** BELAY_AUDIT_HMAC_KEY, or null: nothing is signed, the head is still published. */
  key: string | null;
  logger: Logger;
  /** Posts a line where people will see it (the Slack channel), when configured. */
  publish?: (text: string) => Promise<void>;
  /** How often the head is published (default 15 minutes). */
  publishEveryMs?: number;
}

/**
 * The anchoring loop of `belay serve`: signs new events soon after they commit and publishes
 * the head and the newest MAC periodically (only when the head moved). It remembers the newest
 * MAC it made or checked; when the database no longer holds it, it stops signing (and says so)
 * rather than vouch for a rewritten chain. Never throws into its caller; failures are logged.
 */
export function createAnchor(deps: AnchorDeps) {
  let timer: NodeJS.Timeout | null = null;
  let signing: Promise<void> | null = null;
  let again = false;
  let published: string | null = null;
  let remembered: Signed | null = null;
  let refusal: string | null = null;

  const post = (text: string) =>
    deps.publish?.(text).catch((err: unknown) => deps.logger.warn({ err }, "audit anchoring: could not post to Slack; it is in the log"));

  const sign = async () => {
    if (!deps.key) return;
    const r = await signPending(deps.db, deps.key, {
      remembered,
      onBatch: (last, events) => deps.logger.info({ auditSigned: { ...last, events } }, "audit events signed (check later with: belay audit verify --expect-mac SEQ:MAC)"),
    });
    remembered = r.last;
    if (r.refused === undefined) {
      refusal = null;
      return;
    }
    if (refusal === r.refused) return; // said already
    refusal = r.refused;
    const check = remembered ? `belay audit verify --expect-mac ${formatSigned(remembered)}` : "belay audit verify";
    const todo = `this process signs nothing more while it stands. Check the trail with \`${check}\` (the newest MAC this process vouched for) against the published heads; if the database was restored from a backup on purpose, restart belay to sign from there`;
    deps.logger.error({ auditSigned: remembered, reason: r.refused }, `audit anchoring refused to sign: ${r.refused}; ${todo}`);
    await post(`:warning: belay audit anchoring stopped: ${r.refused}. ${todo}.`);
  };

  /** Coalesces: one signing at a time, and one more if events arrived meanwhile. */
  const schedule = (): Promise<void> => {
    if (signing) {
      again = true;
      return signing;
    }
    signing = (async () => {
      do {
        again = false;
        await sign().catch((err: unknown) => deps.logger.error({ err }, "audit anchoring: signing failed; it is retried with the next events"));
      } while (again);
    })().finally(() => {
      signing = null;
    });
    return signing;
  };

  const publishHead = async (): Promise<{ seq: number; hash: string; events: number } | null> => {
    await schedule();
    const head = await auditHead(deps.db);
    if (head.events === 0 || published === head.hash) return null;
    published = head.hash;
    const mac = remembered && refusal === null ? remembered : null;
    const check = `belay audit verify --expect-head ${head.hash}${mac ? ` --expect-mac ${formatSigned(mac)}` : ""}`;
    deps.logger.info({ auditHead: { seq: head.seq, hash: head.hash, events: head.events }, auditSigned: mac }, `audit head (check later with: ${check})`);
    await post(`:link: belay audit head #${head.seq} \`${head.hash}\`${mac ? `, signed to #${mac.seq}` : ""} (check with \`${check}\`)`);
    return head;
  };

  return {
    /** Committed events: sign them soon. */
    onEvents: () => void schedule(),
    signNow: schedule,
    publishHead,
    start() {
      void publishHead().catch((err: unknown) => deps.logger.error({ err }, "audit anchoring: publishing the head failed"));
      timer = setInterval(
        () => void publishHead().catch((err: unknown) => deps.logger.error({ err }, "audit anchoring: publishing the head failed")),
        deps.publishEveryMs ?? 15 * 60_000,
      );
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await schedule();
    },
  };
}
