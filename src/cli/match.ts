import { readFile } from "node:fs/promises";
import { catalog } from "../catalog/index.ts";
import { describeError, isBelayError } from "../errors.ts";
import { parseAlertFile } from "../ingest/parse-file.ts";
import { createMatcher, type MatchResult } from "../match/index.ts";
import { alertText, effectiveAlertname } from "../match/alert-text.ts";
import { compileClassifier, MODE_THRESHOLD } from "../match/classify.ts";
import type { Alert } from "../sdk/alert.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import { alertFromText } from "../slack/command.ts";
import { closestByWords } from "./closest.ts";

export interface MatchCommandIo {
  out: (s: string) => void;
  err: (s: string) => void;
  readStdin: () => Promise<string>;
  loadPlaybooks: () => Promise<AnyPlaybook[]>;
}

export interface MatchOptions {
  /** Free text (words of the command line); used when there is no --alert. */
  text?: string;
  alert?: string;
  json?: boolean;
}

/** How many failure modes "closest" lists when nothing fits. */
const CLOSEST = 3;

/**
 * `belay match "free text" | --alert FILE|- [--json]`: the failure mode and ranked playbooks
 * for every alert, the params each playbook would take from it, and the closest failure
 * modes when nothing fits. Exit 0 on success, 2 on a usage error, 1 when the file cannot be
 * read or parsed.
 */
export async function matchCommand(o: MatchOptions, io: MatchCommandIo): Promise<number> {
  const text = o.text?.trim() ?? "";
  if (o.alert === undefined && !text) {
    io.err('belay match: give an alert file (--alert FILE, or --alert - for standard input) or free text: belay match "redis OOM command not allowed"');
    return 2;
  }
  if (o.alert !== undefined && text) {
    io.err(`belay match: give --alert or free text, not both (got --alert ${o.alert} and "${text}")`);
    return 2;
  }
  let alerts: Alert[];
  if (o.alert === undefined) alerts = [alertFromText(text)];
  else {
    const file = o.alert === "-" ? "standard input" : o.alert;
    try {
      const body = o.alert === "-" ? await io.readStdin() : await readFile(o.alert, "utf8");
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch (err) {
        // One line: Node quotes the start of the input, newlines and all.
        io.err(`belay match: ${file}: not valid JSON: ${describeError(err).replace(/\s*\n\s*/g, " ")}; give an alert as JSON, or the words without --alert`);
        return 1;
      }
      alerts = parseAlertFile(parsed, file);
    } catch (err) {
      io.err(`belay match: ${isBelayError(err) ? err.message : `${file}: ${describeError(err)}`}`);
      return 1;
    }
  }

  const playbooks = await io.loadPlaybooks();
  const matcher = createMatcher(playbooks, catalog);
  const classifier = compileClassifier(catalog);
  const rows = alerts.map((alert) => {
    const result = matcher.match(alert);
    const candidates = result.candidates.map((c) => ({ ...c, params: paramsFrom(playbooks.find((p) => p.id === c.playbook), alert) }));
    const closest =
      result.failureMode === null
        ? (() => {
            const t = alertText(alert);
            return classifier
              .classify(alert, t, t.toLowerCase(), effectiveAlertname(alert, classifier.knowsAlertname), alert.labels.alertname !== undefined)
              .filter((m) => m.score < MODE_THRESHOLD)
              .slice(0, CLOSEST)
              .map((m) => ({ failureMode: m.mode.id, score: Math.round(m.score * 100) / 100, reasons: [...m.reasons], playbooks: [...m.mode.playbooks] }))
              .concat(
                // No signal at all: the modes that share words with the alert, score 0.
                closestByWords(t, catalog, CLOSEST).map((m) => ({ failureMode: m.mode.id, score: 0, reasons: [`shares the words ${m.shared.join(", ")}`], playbooks: [...m.mode.playbooks] })),
              )
              .filter((m, i, all) => all.findIndex((x) => x.failureMode === m.failureMode) === i)
              .slice(0, CLOSEST);
          })()
        : [];
    return { alert, result, candidates, closest };
  });
  if (o.json) {
    io.out(
      JSON.stringify({
        alerts: rows.map(({ alert, result, candidates, closest }) => ({
          fingerprint: result.fingerprint,
          title: result.title,
          status: alert.status,
          failureMode: result.failureMode,
          candidates: candidates.map((c) => ({ playbook: c.playbook, score: c.score, reasons: [...c.reasons], params: c.params, ...(c.missing?.length ? { missing: [...c.missing] } : {}) })),
          closest,
        })),
      }),
    );
  } else if (rows.length === 0) {
    const from = o.alert === undefined ? "the text" : o.alert === "-" ? "standard input" : o.alert;
    io.out(`no alerts in ${from}: nothing is firing or resolved in it (a PagerDuty delivery about a note, a service or a ping carries no incident), so there is nothing to match`);
  } else io.out(renderTable(rows));
  return 0;
}

/** What a playbook's fromAlert takes from the alert (nothing when it throws). */
function paramsFrom(pb: AnyPlaybook | undefined, alert: Alert): Record<string, unknown> {
  if (!pb) return {};
  try {
    return { ...((pb.fromAlert(alert) as Record<string, unknown> | undefined) ?? {}) };
  } catch {
    return {};
  }
}

type Row = { alert: Alert; result: MatchResult; candidates: (MatchResult["candidates"][number] & { params: Record<string, unknown> })[]; closest: { failureMode: string; score: number; reasons: string[]; playbooks: string[] }[] };

function renderTable(rows: readonly Row[]): string {
  const lines: string[] = [];
  rows.forEach(({ alert, result: r, candidates, closest }, i) => {
    if (i > 0) lines.push("");
    lines.push(`${r.title || "(untitled)"}  [${alert.status}] ${r.fingerprint}`);
    lines.push(`  failure mode: ${r.failureMode ?? "none recognised"}`);
    if (candidates.length === 0) {
      lines.push(alert.status === "resolved" ? "  resolved: no remedy proposed" : "  no playbook fits");
      if (closest.length > 0) {
        lines.push("  closest failure modes (below the bar to propose anything):");
        for (const m of closest) lines.push(`    ${m.failureMode}  ${m.score > 0 ? m.score.toFixed(2) : "words"}  ${m.reasons.join("; ")}${m.playbooks.length ? `  (playbooks: ${m.playbooks.join(", ")})` : ""}`);
      }
      return;
    }
    const width = Math.max(...candidates.map((c) => c.playbook.length));
    candidates.forEach((c, rank) => {
      lines.push(`  ${rank + 1}. ${c.playbook.padEnd(width)}  ${c.score.toFixed(2)}  ${c.reasons.join("; ")}`);
      const filled = Object.entries(c.params).filter(([, v]) => v !== undefined && v !== null && v !== "");
      if (filled.length || c.missing?.length) {
        lines.push(`     ${" ".repeat(width)}  params: ${filled.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ") || "none from the alert"}${c.missing?.length ? `; still needed: ${c.missing.join(", ")}` : ""}`);
      }
    });
  });
  return lines.join("\n");
}
