import { eventsForRun } from "../audit/chain.ts";
import { parseArgs } from "node:util";
import { getApprovals, getRun, getSteps, listRuns } from "../store/runs.ts";
import { openStore } from "../store/open.ts";
import { renderRun } from "./render.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";

/** `belay runs [--limit N] [--json]` and `belay status RUN`: read-only views of the store. */
export async function runsCommand(kind: "runs" | "status", args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { limit: { type: "string", default: "20" }, json: { type: "boolean" } } });
  const config = configFrom(io);
  if (kind === "status" && !positionals[0]) throw new UsageError("usage: belay status RUN");
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError(`--limit ${values.limit}: use a whole number from 1 to 1000`);
  const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: `belay ${kind}` });
  try {
    if (kind === "runs") {
      const runs = await listRuns(db, { limit });
      if (values.json) io.out(JSON.stringify(runs, null, 2));
      else for (const r of runs) io.out(`${r.id}  ${r.createdAt.toISOString()}  ${r.status.padEnd(17)} ${r.playbookId}  (${r.requestedBy})`);
      if (!values.json && runs.length === 0) io.out("no runs yet");
      return 0;
    }
    const run = await getRun(db, positionals[0]!);
    if (!run) {
      io.err(`no run ${positionals[0]}; \`belay runs\` lists recent runs`);
      return 1;
    }
    const view = { run, steps: await getSteps(db, run.id), approvals: await getApprovals(db, run.id), playbook: null };
    io.out(values.json ? JSON.stringify(view, null, 2) : renderRun(view, await eventsForRun(db, run.id)));
    return 0;
  } finally {
    await db.close();
  }
}
