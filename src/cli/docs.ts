import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadPlaybooks } from "../plan/registry.ts";
import { renderRunbook } from "../plan/runbook.ts";
import { configFrom, type CliIo } from "./io.ts";

/** `belay docs [--check] [--out DIR]`: runbooks/<id>.md from each playbook. `--check` fails when any is stale. */
export async function docsCommand(values: { check?: boolean; out: string }, io: CliIo): Promise<number> {
  const config = configFrom(io);
  const playbooks = await loadPlaybooks(config.env.BELAY_PLAYBOOKS_DIR);
  const dir = values.out;
  mkdirSync(dir, { recursive: true });
  const wanted = new Map([...playbooks.values()].map((pb) => [`${pb.id}.md`, renderRunbook(pb)]));
  const present = readdirSync(dir).filter((f) => f.endsWith(".md"));
  const stale: string[] = [];
  for (const [file, text] of wanted) {
    let current: string | null = null;
    try {
      current = readFileSync(join(dir, file), "utf8");
    } catch {
      current = null;
    }
    if (current === text) continue;
    stale.push(`${join(dir, file)} ${current === null ? "is missing" : "is out of date"}`);
    if (!values.check) writeFileSync(join(dir, file), text);
  }
  for (const file of present.filter((f) => !wanted.has(f) && f !== "README.md")) {
    stale.push(`${join(dir, file)} has no playbook`);
    if (!values.check) rmSync(join(dir, file));
  }
  if (values.check) {
    if (stale.length === 0) {
      io.out(`runbooks are up to date (${wanted.size})`);
      return 0;
    }
    io.err(`stale runbooks:\n${stale.map((s) => `  ${s}`).join("\n")}\nRun \`npm run belay -- docs\` and commit the result.`);
    return 1;
  }
  io.out(stale.length === 0 ? `runbooks are up to date (${wanted.size})` : `wrote ${stale.length} runbook change(s):\n${stale.map((s) => `  ${s}`).join("\n")}`);
  return 0;
}
