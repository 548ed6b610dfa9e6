import { newId } from "../ids.ts";
import { requestRetriage } from "../incidents/retriage.ts";
import { openStore } from "../store/open.ts";
import { configFrom, type CliIo } from "./io.ts";
import { resolveId } from "./resolve.ts";

/** `belay retriage INCIDENT [--as USER]`: queues another triage; the worker of `belay serve` runs it. */
export async function retriageCommand(ref: string, values: { as?: string; json?: boolean }, io: CliIo): Promise<number> {
  const config = configFrom(io);
  const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: "belay retriage" });
  try {
    const id = (await resolveId(db, "incident", ref)) ?? ref;
    const r = await requestRetriage({ db, clock: () => new Date(), newId }, id, { id: values.as ?? io.user(), surface: "cli" });
    if (values.json) io.out(JSON.stringify({ incidentId: id, title: r.title, jobId: r.jobId }));
    else io.out(`triage of ${id} (${r.title}) queued as ${r.jobId}; belay serve runs it and answers in the incident's thread\n`);
    return 0;
  } finally {
    await db.close();
  }
}
