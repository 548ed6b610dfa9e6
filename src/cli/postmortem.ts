import { parseArgs } from "node:util";
import { buildPostmortem } from "../postmortem/draft.ts";
import { postmortemMarkdown } from "../postmortem/markdown.ts";
import { openStore } from "../store/open.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";

/** `belay postmortem INCIDENT [--format md|json]`: verifies the audit chain, then drafts the review. */
export async function postmortemCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: "string", default: "md" } } });
  const id = positionals[0];
  if (!id) throw new UsageError("usage: belay postmortem INCIDENT [--format md|json]");
  if (values.format !== "md" && values.format !== "json") throw new UsageError(`--format ${values.format}: use md or json`);
  const config = configFrom(io);
  const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: "belay postmortem" });
  try {
    const draft = await buildPostmortem(db, id);
    io.out(values.format === "json" ? JSON.stringify(draft, null, 2) : postmortemMarkdown(draft));
    if (!draft.chain.verified) io.err(`audit chain BROKEN: ${draft.chain.problem}`);
    return draft.chain.verified ? 0 : 1;
  } finally {
    await db.close();
  }
}
