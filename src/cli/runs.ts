import { eventsForRun } from "../audit/chain.ts";
import { getApprovals, getRun, getSteps, listRuns } from "../store/runs.ts";
import { openStore } from "../store/open.ts";
import type { Config } from "../config.ts";
import { renderRun } from "./render.ts";
import { resolveId } from "./resolve.ts";
import { tabulate } from "./tabulate.ts";
import { configFrom, parseLimit, splitIo, type CliIo } from "./io.ts";

function open(config: Config, command: string) {
  return openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command });
}

/** `belay runs [--limit N] [--json]`: recent runs. */
export async function runsList(o: { limit: string; json?: boolean }, io: CliIo): Promise<number> {
  const limit = parseLimit(o.limit);
  const config = configFrom(io);
  const db = await open(config, "belay runs");
  try {
    const runs = await listRuns(db, { limit });
    if (o.json) return io.out(JSON.stringify(runs, null, 2)), 0;
    if (runs.length === 0) io.out("no runs yet");
    else io.out(tabulate(["RUN", "CREATED", "STATUS", "PLAYBOOK", "REQUESTED BY", "PLAN"], runs.map((r) => [r.id, r.createdAt.toISOString(), r.status, r.playbookId, r.requestedBy, r.planHash.slice(0, 12)])));
    return 0;
  } finally {
    await db.close();
  }
}

/** `belay status RUN [--json]`: one run (a unique prefix of 7+ characters names it too). */
export async function runStatus(ref: string, o: { json?: boolean }, io: CliIo): Promise<number> {
  const config = configFrom(io);
  const db = await open(config, "belay status");
  try {
    const id = await resolveId(db, "run", ref);
    const run = id ? await getRun(db, id) : null;
    if (!run) {
      io.err(`no run ${ref}; \`belay runs\` lists recent runs`);
      return 1;
    }
    const view = { run, steps: await getSteps(db, run.id), approvals: await getApprovals(db, run.id), playbook: null };
    const { human, json } = splitIo(io, Boolean(o.json));
    if (o.json) json(view);
    else human.out(renderRun(view, await eventsForRun(db, run.id), { color: human.color }));
    return 0;
  } finally {
    await db.close();
  }
}
