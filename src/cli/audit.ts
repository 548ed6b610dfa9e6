import { eventsForIncident, eventsForRun, verifyChain } from "../audit/chain.ts";
import { timelineMarkdown, toTimeline } from "../audit/timeline.ts";
import { formatSigned, parseSigned, signPending, STALE_AFTER_MS, verifyMacs } from "../audit/anchor.ts";
import { auditHead } from "../store/audit-macs.ts";
import type { Db } from "../store/driver.ts";
import { openStore } from "../store/open.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";
import type { AuditExportOptions, AuditVerifyOptions } from "./options.ts";
import { resolveId } from "./resolve.ts";

function open(io: CliIo, sub: string): { key: string | null; db: () => Promise<Db> } {
  const config = configFrom(io);
  return { key: config.env.BELAY_AUDIT_HMAC_KEY ?? null, db: () => openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: `belay audit ${sub}` }) };
}

/** `belay audit sign`: signs the events not signed yet. */
export async function auditSign(o: { json?: boolean }, io: CliIo): Promise<number> {
  const opened = open(io, "sign");
  if (!opened.key) throw new UsageError("belay audit sign needs BELAY_AUDIT_HMAC_KEY");
  const db = await opened.db();
  try {
    const r = await signPending(db, opened.key);
    const head = await auditHead(db);
    if (o.json) io.out(JSON.stringify({ signed: r.signed, refused: "refused" in r ? r.refused : null, head, last: r.last ? formatSigned(r.last) : null }));
    else if ("refused" in r) io.err(`signed ${r.signed} events, then stopped: ${r.refused}`);
    else io.out(`signed ${r.signed} events; audit head #${head.seq} ${head.hash}${r.last ? `; newest MAC ${formatSigned(r.last)}` : ""}`);
    return "refused" in r ? 1 : 0;
  } finally {
    await db.close();
  }
}

/** `belay audit export --run ID | --incident ID [--format md|json] [--json]`. */
export async function auditExport(o: AuditExportOptions, io: CliIo): Promise<number> {
  const format = o.json ? "json" : o.format;
  if (!o.run === !o.incident) throw new UsageError("belay audit export needs exactly one of --run ID or --incident ID");
  if (format !== "md" && format !== "json") throw new UsageError(`--format ${format}: use md or json`);
  const db = await open(io, "export").db();
  try {
    const run = o.run ? ((await resolveId(db, "run", o.run)) ?? o.run) : undefined;
    const incident = o.incident ? ((await resolveId(db, "incident", o.incident)) ?? o.incident) : undefined;
    const events = run ? await eventsForRun(db, run) : await eventsForIncident(db, incident!);
    if (events.length === 0) {
      io.err(`no audit events for ${run ? `run ${run}` : `incident ${incident}`}`);
      return 1;
    }
    const title = run ? `Run ${run}` : `Incident ${incident}`;
    if (format === "json") io.out(JSON.stringify({ title, events, timeline: toTimeline(events) }, null, 2));
    else io.out(timelineMarkdown(title, toTimeline(events)));
    return 0;
  } finally {
    await db.close();
  }
}

/** `belay audit verify [--expect-head HASH] [--expect-mac SEQ:MAC] [--json]`. */
export async function auditVerify(o: AuditVerifyOptions, io: CliIo): Promise<number> {
  const opened = open(io, "verify");
  const db = await opened.db();
  try {
    return await verify(db, opened.key, o, io);
  } finally {
    await db.close();
  }
}

/**
 * The chain, then (with BELAY_AUDIT_HMAC_KEY) every event's MAC, then (with --expect-head)
 * that the chain still contains a head published earlier, and (with --expect-mac) that the MAC
 * chain still holds a MAC published earlier. Exit 1 when any of them fails.
 */
async function verify(db: Db, key: string | null, values: AuditVerifyOptions, io: CliIo): Promise<number> {
  const expectHead = values.expectHead;
  const expectMac = values.expectMac === undefined ? undefined : parseSigned(values.expectMac);
  if (expectMac === null) throw new UsageError(`--expect-mac ${values.expectMac}: give a published SEQ:MAC (the event's seq, a colon, 64 hex digits)`);
  if (expectMac && !key) throw new UsageError("--expect-mac needs BELAY_AUDIT_HMAC_KEY: the MAC chain is recomputed with it");
  if (expectHead !== undefined && !/^[0-9a-f]{64}$/.test(expectHead)) {
    throw new UsageError(`--expect-head ${expectHead}: give the 64-hex-digit hash of a published audit head`);
  }
  const started = performance.now();
  const r = await verifyChain(db, expectHead === undefined ? {} : { expectHead });
  const macs = key && r.broken?.problem !== "edited" ? await verifyMacs(db, key, { now: new Date(), ...(expectMac ? { expectMac } : {}) }) : null;
  const ms = Math.round(performance.now() - started);
  const ok = r.ok && (macs?.ok ?? true);
  if (values.json) {
    io.out(JSON.stringify({ ...r, ok, chainOk: r.ok, macs, ms }));
    return ok ? 0 : 1;
  }
  if (r.ok) io.out(`audit chain intact: ${r.events} events, head ${r.headHash} (${ms} ms)`);
  else if (r.broken!.problem === "not_descended") io.err(`audit chain does NOT descend from the expected head: ${r.broken!.message}`);
  else io.err(`audit chain BROKEN after ${r.events - 1} good events: ${r.broken!.message}`);
  if (r.ok && expectHead !== undefined) io.out(`  descends from the expected head (event #${r.expectedHeadSeq})`);
  if (!key) io.out("  MACs not checked (set BELAY_AUDIT_HMAC_KEY to sign and check them)");
  else if (macs) {
    const line = `MACs: ${macs.signed} signed, ${macs.pending} not signed yet`;
    if (macs.expected?.held) io.out(`  holds the expected MAC of event #${macs.expected.seq}`);
    else if (macs.expected) io.err(`audit trail does NOT hold the expected MAC of event #${macs.expected.seq}: ${macs.expected.problem}`);
    if (macs.ok) io.out(`  ${line}, none bad`);
    else {
      io.err(`audit MACs BAD: ${line}`);
      for (const b of macs.bad) io.err(`  event #${b.seq} (${b.id}): ${b.problem === "rewritten" ? "rewritten after it was signed (its hash is not the one signed)" : "signed with a bad MAC (not made with this key)"}`);
      if (macs.missing.length) io.err(`  unsigned between signed events (MACs removed): #${macs.missing.join(", #")}`);
      if (macs.staleCount) {
        io.err(`  not signed for more than ${STALE_AFTER_MS / 1000} s (belay signs within seconds; MACs removed, or no signer ran): #${macs.stale.join(", #")}${macs.staleCount > macs.stale.length ? ` (${macs.staleCount} in all)` : ""}`);
        io.err("  if no belay was running to sign them, check them against a published head and MAC, then run belay audit sign");
      }
      if (macs.orphans.length) io.err(`  signed events that are gone: #${macs.orphans.join(", #")}`);
    }
  }
  return ok ? 0 : 1;
}
