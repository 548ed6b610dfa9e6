import { parseArgs } from "node:util";
import { eventsForIncident, eventsForRun, verifyChain } from "../audit/chain.ts";
import { timelineMarkdown, toTimeline } from "../audit/timeline.ts";
import { openStore } from "../store/open.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";

export async function auditCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "verify" && sub !== "export") throw new UsageError("usage: belay audit verify | belay audit export --run ID | --incident ID [--format md|json]");
  const config = configFrom(io);
  const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: `belay audit ${sub}` });
  try {
    if (sub === "verify") {
      const { values } = parseArgs({ args: rest, options: { json: { type: "boolean" } } });
      const started = performance.now();
      const r = await verifyChain(db);
      const ms = Math.round(performance.now() - started);
      if (values.json) io.out(JSON.stringify({ ...r, ms }));
      else if (r.ok) io.out(`audit chain intact: ${r.events} events, head ${r.headHash} (${ms} ms)`);
      else io.err(`audit chain BROKEN after ${r.events - 1} good events: ${r.broken!.message}`);
      return r.ok ? 0 : 1;
    }
    const { values } = parseArgs({ args: rest, options: { run: { type: "string" }, incident: { type: "string" }, format: { type: "string", default: "md" } } });
    if (!values.run === !values.incident) throw new UsageError("belay audit export needs exactly one of --run ID or --incident ID");
    if (values.format !== "md" && values.format !== "json") throw new UsageError(`--format ${values.format}: use md or json`);
    const events = values.run ? await eventsForRun(db, values.run) : await eventsForIncident(db, values.incident!);
    if (events.length === 0) {
      io.err(`no audit events for ${values.run ? `run ${values.run}` : `incident ${values.incident}`}`);
      return 1;
    }
    const title = values.run ? `Run ${values.run}` : `Incident ${values.incident}`;
    if (values.format === "json") io.out(JSON.stringify({ title, events, timeline: toTimeline(events) }, null, 2));
    else io.out(timelineMarkdown(title, toTimeline(events)));
    return 0;
  } finally {
    await db.close();
  }
}
