import { createHmac, timingSafeEqual } from "node:crypto";
import type { Logger } from "../execute/deps.ts";
import type { Queryable } from "../store/driver.ts";
import { auditHead, eventsAfter, eventsWithMacs, insertMacs, lastMac, orphanMacs, type MacRow } from "../store/audit-macs.ts";
import { hashBody } from "./chain.ts";
import { GENESIS_HASH } from "./events.ts";

/*
 * Anchoring the audit chain outside the database. The chain's hashes are computed in SQL, so
 * whoever owns the database can rewrite an event and recompute every hash after it. Two
 * anchors it cannot forge:
 *  - an HMAC over each event's (seq, hash) with BELAY_AUDIT_HMAC_KEY, which the database never
 *    sees: computed by belay after commit, stored append-only in audit_macs;
 *  - the head (seq + hash), published periodically to the log and the Slack channel, which
 *    `belay audit verify --expect-head HASH` checks the chain still descends from.
 */

/** The MAC of one event: HMAC-SHA256 over a version tag, its seq and its hash. */
export function macOf(key: string, seq: number, hash: string): string {
  return createHmac("sha256", key).update(`belay-audit-v1\n${seq}\n${hash}`).digest("hex");
}

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export type SignResult = { signed: number; upTo: number } | { signed: number; upTo: number; refused: string };

/**
 * Signs every event after the newest signed one, in order. Before signing, each event's hash is
 * recomputed from its content and its link to the one before is checked: an event rewritten
 * before belay signed it is refused (and reported), never signed.
 */
export async function signPending(db: Queryable, key: string, opts: { batch?: number } = {}): Promise<SignResult> {
  const batch = opts.batch ?? 5_000;
  const last = await lastMac(db);
  let seq = last?.seq ?? 0;
  let prev = last?.hash ?? GENESIS_HASH;
  let signed = 0;
  for (;;) {
    const rows = await eventsAfter(db, seq, batch);
    if (rows.length === 0) return { signed, upTo: seq };
    const macs: MacRow[] = [];
    let refused: string | null = null;
    for (const row of rows) {
      if (row.prev_hash !== prev || hashBody(row.prev_hash, row) !== row.hash) {
        refused = `event #${row.seq} (${row.id}) does not follow the signed chain: run belay audit verify`;
        break;
      }
      macs.push({ seq: row.seq, hash: row.hash, mac: macOf(key, row.seq, row.hash) });
      prev = row.hash;
    }
    await insertMacs(db, macs);
    signed += macs.length;
    if (macs.length) seq = macs.at(-1)!.seq;
    if (refused) return { signed, upTo: seq, refused };
    if (rows.length < batch) return { signed, upTo: seq };
  }
}

export interface MacReport {
  ok: boolean;
  signed: number;
  /** Events after the newest signed one: not signed yet (belay signs shortly after commit). */
  pending: number;
  /** Unsigned events before a signed one: their MAC rows were removed. */
  missing: number[];
  /** Signed, but the MAC or the event no longer matches: forged or rewritten. */
  bad: { seq: number; id: string; problem: "rewritten" | "forged_mac" }[];
  /** MACs of events that are gone. */
  orphans: number[];
}

/** Checks every event's MAC. Lists at most `limit` of each problem. */
export async function verifyMacs(db: Queryable, key: string, opts: { pageSize?: number; limit?: number } = {}): Promise<MacReport> {
  const pageSize = opts.pageSize ?? 10_000;
  const limit = opts.limit ?? 20;
  const bad: MacReport["bad"] = [];
  const unsignedSoFar: number[] = [];
  const missing: number[] = [];
  let signed = 0;
  let unsignedRun = 0; // unsigned events since the last signed one
  let after = 0;
  for (;;) {
    const page = await eventsWithMacs(db, after, pageSize);
    for (const e of page) {
      if (e.mac === null) {
        unsignedRun++;
        if (unsignedSoFar.length < limit) unsignedSoFar.push(e.seq);
        continue;
      }
      // A signed event after unsigned ones: those were signed once (signing goes in order).
      if (unsignedRun > 0) {
        for (const s of unsignedSoFar) if (missing.length < limit) missing.push(s);
        unsignedRun = 0;
      }
      unsignedSoFar.length = 0;
      signed++;
      if (e.mac_hash !== e.hash) {
        if (bad.length < limit) bad.push({ seq: e.seq, id: e.id, problem: "rewritten" });
      } else if (!sameMac(e.mac, macOf(key, e.seq, e.hash))) {
        if (bad.length < limit) bad.push({ seq: e.seq, id: e.id, problem: "forged_mac" });
      }
    }
    if (page.length < pageSize) break;
    after = page.at(-1)!.seq;
  }
  const orphans = await orphanMacs(db, limit);
  return { ok: bad.length === 0 && missing.length === 0 && orphans.length === 0, signed, pending: unsignedRun, missing, bad, orphans };
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
 * the head periodically (only when it moved). Never throws into its caller; failures are logged.
 */
export function createAnchor(deps: AnchorDeps) {
  let timer: NodeJS.Timeout | null = null;
  let signing: Promise<void> | null = null;
  let again = false;
  let published: string | null = null;

  const sign = async () => {
    if (!deps.key) return;
    const r = await signPending(deps.db, deps.key);
    if ("refused" in r) deps.logger.error({ upTo: r.upTo, reason: r.refused }, "audit anchoring refused to sign an event that does not follow the chain");
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
    deps.logger.info({ auditHead: { seq: head.seq, hash: head.hash, events: head.events } }, "audit head (check later with: belay audit verify --expect-head HASH)");
    await deps.publish?.(`:link: belay audit head #${head.seq} \`${head.hash}\` (check with \`belay audit verify --expect-head ${head.hash}\`)`).catch((err: unknown) =>
      deps.logger.warn({ err }, "audit anchoring: could not post the head to Slack; it is in the log"),
    );
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
