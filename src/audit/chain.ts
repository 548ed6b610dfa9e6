import type { Queryable } from "../store/driver.ts";
import { canonicalJson, sha256Hex } from "./canonical.ts";
import { GENESIS_HASH, type AuditEvent, type AuditInput } from "./events.ts";
import { redact } from "./redact.ts";

const str = JSON.stringify;
const nullable = (v: string | null) => (v === null ? "null" : JSON.stringify(v));

/**
 * What the hash covers: everything but seq (a database detail) and the hashes themselves,
 * as canonical JSON. `dataJson` is the canonical JSON of the event's data, as stored.
 * Built by hand (keys in sorted order) so verifying 100,000 events parses nothing.
 */
export function eventBody(e: Omit<AuditRow, "seq" | "hash" | "prev_hash">): string {
  return (
    `{"actor":${str(e.actor)},"at":${str(e.at)},"data":${e.data},"id":${str(e.id)},"incident":${nullable(e.incident_id)},` +
    `"kind":${str(e.kind)},"run":${nullable(e.run_id)},"step":${nullable(e.step)},"surface":${str(e.surface)}}`
  );
}

export function hashBody(prevHash: string, e: Omit<AuditRow, "seq" | "hash" | "prev_hash">): string {
  return sha256Hex(`${prevHash}\n${eventBody(e)}`);
}

/** The hash of an event, given the hash before it. Equal to sha256(prev + "\n" + canonicalJson(event)). */
export function hashEvent(prevHash: string, e: Omit<AuditEvent, "seq" | "hash" | "prevHash">): string {
  return hashBody(prevHash, {
    id: e.id,
    at: e.at,
    kind: e.kind,
    actor: e.actor,
    surface: e.surface,
    run_id: e.runId,
    incident_id: e.incidentId,
    step: e.step,
    data: canonicalJson(e.data),
  });
}

export interface AuditRow {
  seq: number;
  id: string;
  at: string;
  kind: string;
  actor: string;
  surface: string;
  run_id: string | null;
  incident_id: string | null;
  step: string | null;
  /** Canonical JSON text. */
  data: string;
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
    data: JSON.parse(r.data) as Record<string, unknown>,
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
  // Appends take turns on the head row: each event's hash covers the one before, so two
  // writers must never read the same head. FOR UPDATE in READ COMMITTED waits for a
  // concurrent append to commit and then returns the head it wrote.
  const head = await tx.query<{ hash: string }>("SELECT hash FROM audit_head WHERE id = 1 FOR UPDATE");
  let prev = head.rows[0]?.hash ?? GENESIS_HASH;
  const at = deps.now.toISOString();
  const out: AuditEvent[] = [];
  const rows: unknown[][] = [];
  for (const input of events) {
    const data = canonicalJson(redact(input.data ?? {}));
    const row = {
      id: deps.newId(),
      at,
      kind: input.kind,
      actor: input.actor,
      surface: input.surface,
      run_id: input.runId ?? null,
      incident_id: input.incidentId ?? null,
      step: input.step ?? null,
      data,
    };
    const hash = hashBody(prev, row);
    rows.push([row.id, row.at, row.kind, row.actor, row.surface, row.run_id, row.incident_id, row.step, row.data, prev, hash]);
    out.push({ ...rowToEvent({ ...row, seq: 0, prev_hash: prev, hash }) });
    prev = hash;
  }
  // One statement: a multi-row INSERT (seq follows the VALUES order, the chain's order) and
  // the head moved to the last new event.
  const n = rows.length * 11;
  const values = rows.map((_, i) => `(${Array.from({ length: 11 }, (_, j) => `$${i * 11 + j + 1}`).join(", ")})`).join(", ");
  const written = await tx.query<{ seqs: string[] }>(
    `WITH ins AS (
       INSERT INTO audit_events (id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash) VALUES ${values} RETURNING seq
     )
     UPDATE audit_head SET hash = $${n + 1}, events = events + $${n + 2} WHERE id = 1
     RETURNING (SELECT array_agg(seq::text ORDER BY seq) FROM ins) AS seqs`,
    [...rows.flat(), prev, rows.length],
  );
  const r = { rows: written.rows[0]!.seqs.map((x) => ({ seq: Number(x) })) };
  r.rows.forEach((x, i) => (out[i]!.seq = x.seq));
  return out;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  headHash: string;
  /** The first event that breaks the chain, and how. */
  broken: { seq: number; id: string; problem: "edited" | "deleted_before" | "reordered" | "truncated" | "not_descended"; message: string } | null;
  /** With `expectHead`: the seq of the event with that hash (null: the chain does not descend from it). */
  expectedHeadSeq?: number | null;
}

/**
 * Walks the whole chain in seq order. An edited event no longer matches its own hash; a
 * deleted one leaves the next event pointing at a hash nobody has; a moved one points at an
 * event that comes later (or earlier than its neighbour).
 */
export async function verifyChain(db: Queryable, opts: { pageSize?: number; expectHead?: string } = {}): Promise<VerifyResult> {
  const pageSize = opts.pageSize ?? 10_000;
  let expectedPrev = GENESIS_HASH;
  let count = 0;
  let expectedHeadSeq: number | null = null;
  const seenHashes = new Set<string>([GENESIS_HASH]);
  const laterHashes = new Map<string, number>(); // stored hash -> seq, filled lazily for diagnosis
  const fetchPage = (from: number) =>
    db.query<AuditRow>(
      `SELECT seq, id, at, kind, actor, surface, run_id, incident_id, step, data, prev_hash, hash
       FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [from, pageSize],
    );
  let next = fetchPage(0);
  for (;;) {
    const page = await next;
    if (page.rows.length === 0) break;
    // Fetch the next page while this one is hashed: the database and the hashing overlap.
    next = page.rows.length === pageSize ? fetchPage(page.rows.at(-1)!.seq) : Promise.resolve({ rows: [], rowCount: 0 });
    next.catch(() => undefined); // if we stop early at a broken event, a failed prefetch is not an unhandled rejection
    for (const row of page.rows) {
      count++;
      if (hashBody(row.prev_hash, row) !== row.hash) {
        return broken(count, row, "edited", `event #${row.seq} (${row.id}, ${row.kind}) was edited: its content no longer matches its hash`);
      }
      if (row.prev_hash !== expectedPrev) {
        if (seenHashes.has(row.prev_hash)) {
          return broken(count, row, "reordered", `event #${row.seq} (${row.id}, ${row.kind}) is out of order: it follows an earlier event than the one before it`);
        }
        for (const r of (await db.query<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_events WHERE seq > $1", [row.seq])).rows) {
          laterHashes.set(r.hash, r.seq);
        }
        if (laterHashes.has(row.prev_hash)) {
          return broken(count, row, "reordered", `event #${row.seq} (${row.id}, ${row.kind}) is out of order: it follows event #${laterHashes.get(row.prev_hash)}, which now comes after it`);
        }
        return broken(count, row, "deleted_before", `the event(s) just before #${row.seq} (${row.id}, ${row.kind}) were deleted: it follows a hash no stored event has`);
      }
      seenHashes.add(row.hash);
      if (row.hash === opts.expectHead) expectedHeadSeq = Number(row.seq);
      expectedPrev = row.hash;
    }
  }
  const head = (await db.query<{ hash: string; events: number }>("SELECT hash, events FROM audit_head WHERE id = 1")).rows[0];
  if (head && (head.hash !== expectedPrev || head.events !== count)) {
    const last = (await db.query<AuditRow>("SELECT seq, id, kind FROM audit_events ORDER BY seq DESC LIMIT 1")).rows[0];
    return {
      ok: false,
      events: count,
      headHash: expectedPrev,
      broken: {
        seq: last?.seq ?? 0,
        id: last?.id ?? "",
        problem: "truncated",
        message: `the chain ends at event #${last?.seq ?? 0} (${count} events) but its head records ${head.events} events ending in ${head.hash.slice(0, 12)}: events were removed from the end`,
      },
    };
  }
  if (opts.expectHead !== undefined) {
    if (expectedHeadSeq === null) {
      const message = `the chain (${count} events, head ${expectedPrev.slice(0, 12)}) does not contain the expected head ${opts.expectHead.slice(0, 12)}: events up to it were rewritten, or it is from another database`;
      return { ok: false, events: count, headHash: expectedPrev, broken: { seq: 0, id: "", problem: "not_descended", message }, expectedHeadSeq };
    }
    return { ok: true, events: count, headHash: expectedPrev, broken: null, expectedHeadSeq };
  }
  return { ok: true, events: count, headHash: expectedPrev, broken: null };

  function broken(n: number, e: AuditRow, problem: NonNullable<VerifyResult["broken"]>["problem"], message: string): VerifyResult {
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
