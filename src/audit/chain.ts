import type { Queryable } from "../store/driver.ts";
import { canonicalJson, sha256Hex } from "./canonical.ts";
import { GENESIS_HASH, type AuditEvent, type AuditInput } from "./events.ts";
import { redact } from "./redact.ts";

/** A fixed key for the advisory lock that serialises appends to the chain ("belayaud"). */
const AUDIT_LOCK_KEY = "7090463286741590372";

/** What the hash covers: everything but seq (a database detail) and the hashes themselves. */
export function hashEvent(prevHash: string, e: Omit<AuditEvent, "seq" | "hash" | "prevHash">): string {
  const body = canonicalJson({
    id: e.id,
    at: e.at,
    kind: e.kind,
    actor: e.actor,
    surface: e.surface,
    run: e.runId,
    incident: e.incidentId,
    step: e.step,
    data: e.data,
  });
  return sha256Hex(`${prevHash}\n${body}`);
}

interface AuditRow {
  seq: number;
  id: string;
  at: string;
  kind: string;
  actor: string;
  surface: string;
  run_id: string | null;
  incident_id: string | null;
  step: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export function rowToEvent(r: AuditRow): AuditEvent {
  return {
    seq: r.seq,
    id: r.id,
    at: r.at,
    kind: r.kind,
    actor: r.actor,
    surface: r.surface,
    runId: r.run_id,
    incidentId: r.incident_id,
    step: r.step,
    data: r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/**
 * Appends events to the chain inside the caller's transaction, so a state change and its
 * audit events commit together or not at all. Secrets are redacted first.
 */
export async function appendAudit(
  tx: Queryable,
  events: readonly AuditInput[],
  deps: { now: Date; newId: () => string },
): Promise<AuditEvent[]> {
  if (events.length === 0) return [];
  // Appends are serialised: each event's hash covers the one before, so two writers must
  // never read the same tail. The transaction-scoped lock is released at commit.
  await tx.query("SELECT pg_advisory_xact_lock($1)", [AUDIT_LOCK_KEY]);
  const tail = await tx.query<{ hash: string }>("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1");
  let prev = tail.rows[0]?.hash ?? GENESIS_HASH;
  const at = deps.now.toISOString();
  const out: AuditEvent[] = [];
  for (const input of events) {
    const base = {
      id: deps.newId(),
      at,
      kind: input.kind,
      actor: input.actor,
      surface: input.surface,
      runId: input.runId ?? null,
      incidentId: input.incidentId ?? null,
      step: input.step ?? null,
      // Round-trip through JSON so what is hashed is exactly what jsonb will hand back.
      data: JSON.parse(JSON.stringify(redact(input.data ?? {}))) as Record<string, unknown>,
    };
    const hash = hashEvent(prev, base);
    const r = await tx.query<{ seq: number }>(
      `INSERT INTO audit_events (id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq`,
      [base.id, base.at, base.kind, base.actor, base.surface, base.runId, base.incidentId, base.step, JSON.stringify(base.data), prev, hash],
    );
    out.push({ ...base, seq: r.rows[0]!.seq, prevHash: prev, hash });
    prev = hash;
  }
  return out;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  headHash: string;
  /** The first event that breaks the chain, and how. */
  broken: { seq: number; id: string; problem: "edited" | "deleted_before" | "reordered"; message: string } | null;
}

/**
 * Walks the whole chain in seq order. An edited event no longer matches its own hash; a
 * deleted one leaves the next event pointing at a hash nobody has; a moved one points at an
 * event that comes later (or earlier than its neighbour).
 */
export async function verifyChain(db: Queryable, opts: { pageSize?: number } = {}): Promise<VerifyResult> {
  const pageSize = opts.pageSize ?? 10_000;
  let expectedPrev = GENESIS_HASH;
  let count = 0;
  let after = 0;
  const seenHashes = new Set<string>([GENESIS_HASH]);
  const laterHashes = new Map<string, number>(); // stored hash -> seq, filled lazily for diagnosis
  for (;;) {
    const page = await db.query<AuditRow>(
      `SELECT seq, id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash
       FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [after, pageSize],
    );
    if (page.rows.length === 0) break;
    for (const row of page.rows) {
      const e = rowToEvent(row);
      count++;
      const recomputed = hashEvent(e.prevHash, e);
      if (recomputed !== e.hash) {
        return broken(count, e, "edited", `event #${e.seq} (${e.id}, ${e.kind}) was edited: its content no longer matches its hash`);
      }
      if (e.prevHash !== expectedPrev) {
        if (seenHashes.has(e.prevHash)) {
          return broken(count, e, "reordered", `event #${e.seq} (${e.id}, ${e.kind}) is out of order: it follows an earlier event than the one before it`);
        }
        for (const r of (await db.query<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_events WHERE seq > $1", [e.seq])).rows) {
          laterHashes.set(r.hash, r.seq);
        }
        if (laterHashes.has(e.prevHash)) {
          return broken(count, e, "reordered", `event #${e.seq} (${e.id}, ${e.kind}) is out of order: it follows event #${laterHashes.get(e.prevHash)}, which now comes after it`);
        }
        return broken(count, e, "deleted_before", `the event(s) just before #${e.seq} (${e.id}, ${e.kind}) were deleted: it follows a hash no stored event has`);
      }
      seenHashes.add(e.hash);
      expectedPrev = e.hash;
      after = e.seq;
    }
  }
  return { ok: true, events: count, headHash: expectedPrev, broken: null };

  function broken(n: number, e: AuditEvent, problem: NonNullable<VerifyResult["broken"]>["problem"], message: string): VerifyResult {
    return { ok: false, events: n, headHash: expectedPrev, broken: { seq: e.seq, id: e.id, problem, message } };
  }
}

const SELECT_EVENTS = `SELECT seq, id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash FROM audit_events`;

export async function eventsForRun(db: Queryable, runId: string): Promise<AuditEvent[]> {
  return (await db.query<AuditRow>(`${SELECT_EVENTS} WHERE run_id = $1 ORDER BY seq`, [runId])).rows.map(rowToEvent);
}

export async function eventsForIncident(db: Queryable, incidentId: string): Promise<AuditEvent[]> {
  return (
    await db.query<AuditRow>(
      `${SELECT_EVENTS} WHERE incident_id = $1 OR run_id IN (SELECT id FROM runs WHERE incident_id = $1) ORDER BY seq`,
      [incidentId],
    )
  ).rows.map(rowToEvent);
}
