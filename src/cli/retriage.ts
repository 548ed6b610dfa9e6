import { parseArgs } from "node:util";
import { newId } from "../ids.ts";
import { requestRetriage } from "../incidents/retriage.ts";
import { openStore } from "../store/open.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";

/** `belay retriage INCIDENT [--as USER]`: queues another triage; the worker of `belay serve` runs it. */
export async function retriageCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { as: { type: "string" } } });
  const id = positionals[0];
  if (!id) throw new UsageError("usage: belay retriage INCIDENT [--as USER]");
  const config = configFrom(io);
  const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: "belay retriage" });
  try {
    const r = await requestRetriage({ db, clock: () => new Date(), newId }, id, { id: values.as ?? io.user(), surface: "cli" });
    io.out(`triage of ${id} (${r.title}) queued as ${r.jobId}; belay serve runs it and answers in the incident's thread\n`);
    return 0;
  } finally {
    await db.close();
  }
}
