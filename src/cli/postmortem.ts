import { buildPostmortem } from "../postmortem/draft.ts";
import { postmortemMarkdown } from "../postmortem/markdown.ts";
import { openStore } from "../store/open.ts";
import type { Config } from "../config.ts";
import type { Db } from "../store/driver.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";
import { resolveId } from "./resolve.ts";

/** `belay postmortem INCIDENT [--format md|json] [--chart FILE]`: verifies the audit chain, then drafts the review. */
export async function postmortemCommand(ref: string, o: { format: string; json?: boolean; chart?: string }, io: CliIo): Promise<number> {
  const values = { ...o, format: o.json ? "json" : o.format };
  if (values.format !== "md" && values.format !== "json") throw new UsageError(`--format ${values.format}: use md or json`);
  const config = configFrom(io);
  const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: "belay postmortem" });
  try {
    const id = (await resolveId(db, "incident", ref)) ?? ref;
    const draft = await buildPostmortem(db, id);
    io.out(values.format === "json" ? JSON.stringify(draft, null, 2) : postmortemMarkdown(draft));
    if (values.chart) await writeChart(config, db, id, values.chart, values.format === "md", io);
    if (!draft.chain.verified) io.err(`audit chain BROKEN: ${draft.chain.problem}`);
    return draft.chain.verified ? 0 : 1;
  } finally {
    await db.close();
  }
}

/** The firing expression over the incident window as a PNG in FILE (needs a prometheus target); the markdown links it. */
async function writeChart(config: Config, db: Db, incidentId: string, file: string, markdown: boolean, io: CliIo): Promise<void> {
  const [{ incidentChart }, { createTargets }, { createLogger }, { writeFileSync }] = await Promise.all([
    import("../incidents/chart.ts"),
    import("../targets/registry.ts"),
    import("../logger.ts"),
    import("node:fs"),
  ]);
  const targets = createTargets(config.file.targets);
  try {
    const chart = await incidentChart({ db, targets, clock: () => new Date(), logger: createLogger("warn") }, incidentId);
    if (!chart) {
      io.err("no chart: it needs a prometheus target in BELAY_CONFIG and an alert with a Prometheus generatorURL whose expression has data");
      return;
    }
    writeFileSync(file, chart.png);
    if (markdown) io.out(`\n![${chart.title}](${file})\n\n\`${chart.expr}\`, ${chart.from.toISOString()} to ${chart.to.toISOString()}`);
  } finally {
    await targets.close();
  }
}
