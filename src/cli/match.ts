import { readFile } from "node:fs/promises";
import { catalog } from "../catalog/index.ts";
import { describeError, isBelayError } from "../errors.ts";
import { parseAlertFile } from "../ingest/parse-file.ts";
import { createMatcher, type MatchResult } from "../match/index.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";

export interface MatchCommandIo {
  out: (s: string) => void;
  err: (s: string) => void;
  loadPlaybooks: () => Promise<AnyPlaybook[]>;
}

const USAGE = "usage: belay match --alert FILE [--json]";

/**
 * `belay match --alert FILE [--json]`: the failure mode and ranked playbooks for every alert
 * in FILE. Exit 0 on success, 2 on a usage error, 1 when the file cannot be read or parsed.
 */
export async function matchCommand(args: string[], io: MatchCommandIo): Promise<number> {
  let file: string | null = null;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--json") json = true;
    else if (arg === "--alert" && i + 1 < args.length) file = args[++i]!;
    else if (arg.startsWith("--alert=") && arg.length > "--alert=".length) file = arg.slice("--alert=".length);
    else if (arg === "--help" || arg === "-h") {
      io.out(USAGE);
      return 0;
    } else {
      io.err(`belay match: unexpected argument "${arg}"\n${USAGE}`);
      return 2;
    }
  }
  if (file === null) {
    io.err(`belay match: --alert FILE is required\n${USAGE}`);
    return 2;
  }

  let alerts;
  try {
    const text = await readFile(file, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      io.err(`belay match: ${file}: not valid JSON: ${describeError(err)}`);
      return 1;
    }
    alerts = parseAlertFile(parsed, file);
  } catch (err) {
    io.err(`belay match: ${isBelayError(err) ? err.message : `${file}: ${describeError(err)}`}`);
    return 1;
  }

  const matcher = createMatcher(await io.loadPlaybooks(), catalog);
  const results = alerts.map((a) => matcher.match(a));
  io.out(json ? JSON.stringify({ alerts: results.map(toJson) }) : renderTable(results, alerts.map((a) => a.status)));
  return 0;
}

/* Exactly the contract's fields, in its order. */
function toJson(r: MatchResult) {
  return {
    fingerprint: r.fingerprint,
    title: r.title,
    failureMode: r.failureMode,
    candidates: r.candidates.map((c) => ({ playbook: c.playbook, score: c.score, reasons: [...c.reasons] })),
  };
}

function renderTable(results: readonly MatchResult[], statuses: readonly string[]): string {
  const lines: string[] = [];
  results.forEach((r, i) => {
    if (i > 0) lines.push("");
    lines.push(`${r.title || "(untitled)"}  [${statuses[i]}] ${r.fingerprint}`);
    lines.push(`  failure mode: ${r.failureMode ?? "none recognised"}`);
    if (r.candidates.length === 0) {
      lines.push(statuses[i] === "resolved" ? "  resolved: no remedy proposed" : "  no playbook fits");
      return;
    }
    const width = Math.max(...r.candidates.map((c) => c.playbook.length));
    r.candidates.forEach((c, rank) => {
      lines.push(`  ${rank + 1}. ${c.playbook.padEnd(width)}  ${c.score.toFixed(2)}  ${c.reasons.join("; ")}`);
    });
  });
  return lines.join("\n");
}
