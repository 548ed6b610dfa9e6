import { createHash } from "node:crypto";
import { alertSchema, type Alert } from "../sdk/alert.ts";
import { DEFAULT_DETECT_WITHIN_S } from "../drills/detect.ts";

/** A parsed `/runbook` invocation. Parsing is pure; handlers decide what each one does. */
export type Command =
  | { kind: "help" }
  | { kind: "list"; query: string | null }
  | { kind: "show"; playbook: string }
  | { kind: "match"; text: string }
  | { kind: "run"; playbook: string; params: Record<string, string>; stray: string[] }
  | { kind: "status"; runId: string | null }
  | { kind: "abort"; runId: string; reason: string | null }
  | { kind: "history"; limit: number }
  | { kind: "audit"; subject: string }
  | { kind: "drill"; action: "list" }
  /** `detectWithinS` set: `drill start ID real [SECONDS]`, no synthetic alert; the team's monitoring must fire. */
  | { kind: "drill"; action: "start"; drill: string; detectWithinS?: number }
  | { kind: "drill"; action: "abort"; drillRun: string | null }
  | { kind: "postmortem"; incident: string }
  | { kind: "retriage"; incident: string }
  | { kind: "usage"; message: string };

/** Slack escapes &, < and > in command text, and clients turn quotes into curly ones. */
export function unescapeSlack(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2018\u2019]/g, "'");
}

/** Splits on whitespace; "double" or 'single' quotes keep spaces inside one word. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /(?:[^\s"']+|"[^"]*"|'[^']*')+/g;
  for (const m of text.matchAll(re)) out.push(m[0].replace(/"([^"]*)"|'([^']*)'/g, (_a, d, s) => d ?? s));
  return out;
}

/** `key=value` words (key = identifier) and the rest. */
export function splitPairs(words: readonly string[]): { pairs: Record<string, string>; rest: string[] } {
  const pairs: Record<string, string> = {};
  const rest: string[] = [];
  for (const w of words) {
    const m = /^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/s.exec(w);
    if (m) pairs[m[1]!] = m[2]!;
    else rest.push(w);
  }
  return { pairs, rest };
}

// Suggested for a mistyped verb by its first two letters (retriage is left out: "restart" is no typo of it).
const VERBS = ["help", "list", "show", "match", "run", "status", "abort", "history", "audit", "drill", "postmortem"];

export function parseCommand(raw: string): Command {
  const text = unescapeSlack(raw).trim();
  const words = tokenize(text);
  const verb = (words[0] ?? "help").toLowerCase();
  const args = words.slice(1);
  const restText = text.slice(text.toLowerCase().indexOf(verb) + verb.length).trim();
  switch (verb) {
    case "help":
    case "?":
      return { kind: "help" };
    case "list":
    case "ls":
      return { kind: "list", query: args.length ? args.join(" ") : null };
    case "show":
      return args[0] ? { kind: "show", playbook: args[0] } : { kind: "usage", message: "Which playbook? `show <playbook>`; `list` shows them." };
    case "match":
      return restText ? { kind: "match", text: restText } : { kind: "usage", message: "Match what? `match RedisOutOfConfiguredMaxmemory instance=cache-1` or `match redis OOM command not allowed`." };
    case "run": {
      if (!args[0] || args[0].includes("=")) return { kind: "usage", message: "Run which playbook? `run <playbook> [key=value ...]`; `list` shows them." };
      const { pairs, rest } = splitPairs(args.slice(1));
      return { kind: "run", playbook: args[0], params: pairs, stray: rest };
    }
    case "status":
      return { kind: "status", runId: args[0] ?? null };
    case "abort":
      return args[0] ? { kind: "abort", runId: args[0], reason: args.length > 1 ? args.slice(1).join(" ") : null } : { kind: "usage", message: "Abort which run? `abort <run>`; `status` lists the runs in progress." };
    case "history": {
      if (!args[0]) return { kind: "history", limit: 10 };
      const n = Number(args[0]);
      return Number.isInteger(n) && n >= 1 && n <= 50 ? { kind: "history", limit: n } : { kind: "usage", message: `\`history ${args[0]}\`: give a whole number from 1 to 50.` };
    }
    case "audit":
      return args[0] ? { kind: "audit", subject: args[0] } : { kind: "usage", message: "Audit what? `audit <incident|run>`." };
    case "drill": {
      const sub = (args[0] ?? "list").toLowerCase();
      if (sub === "list") return { kind: "drill", action: "list" };
      if (sub === "start") {
        if (!args[1]) return { kind: "usage", message: "Start which drill? `drill start <drill>`; `drill list` shows them." };
        if (args[2] === undefined) return { kind: "drill", action: "start", drill: args[1] };
        const within = args[3] === undefined ? DEFAULT_DETECT_WITHIN_S : Number(args[3]);
        if (args[2].toLowerCase() !== "real" || !Number.isInteger(within) || within < 1 || within > 3600 || args.length > 4) {
          return { kind: "usage", message: `\`drill start ${clipWord(args[1])} ${clipWord(args.slice(2).join(" "))}\`: use \`drill start <drill>\` (a DRILL alert) or \`drill start <drill> real [seconds]\` (wait up to that many seconds, 1 to 3600, default ${DEFAULT_DETECT_WITHIN_S}, for your monitoring's own alert).` };
        }
        return { kind: "drill", action: "start", drill: args[1], detectWithinS: within };
      }
      if (sub === "abort" || sub === "stop") return { kind: "drill", action: "abort", drillRun: args[1] ?? null };
      return { kind: "usage", message: `\`drill ${clipWord(sub)}\`: use \`drill list\`, \`drill start <drill>\` or \`drill abort [drill run]\`.` };
    }
    case "postmortem":
    case "review":
      return args[0] ? { kind: "postmortem", incident: args[0] } : { kind: "usage", message: "Review which incident? `postmortem <incident>`." };
    case "retriage":
      return args[0] ? { kind: "retriage", incident: args[0] } : { kind: "usage", message: "Triage which incident again? `retriage <incident>`." };
    default: {
      const near = VERBS.find((v) => v.startsWith(verb.slice(0, 2)));
      return { kind: "usage", message: `I don't know \`${clipWord(verb)}\`.${near ? ` Did you mean \`${near}\`?` : ""}` };
    }
  }
}

function clipWord(w: string): string {
  return w.length > 40 ? `${w.slice(0, 40)}…` : w.replace(/`/g, "'");
}

/**
 * A normalised alert from `match` text: `key=value` words are labels (`alertname=X` names
 * it; a bare first word that looks like an alert name does too), the rest is its title.
 */
export function alertFromText(text: string): Alert {
  const { pairs, rest } = splitPairs(tokenize(unescapeSlack(text)));
  const labels: Record<string, string> = { ...pairs };
  if (!labels.alertname && rest.length > 0 && /^[A-Z][A-Za-z0-9]+$/.test(rest[0]!) && /[a-z]/.test(rest[0]!) && /[A-Z].*[A-Z]/.test(rest[0]!)) {
    labels.alertname = rest.shift()!;
  }
  const title = [labels.alertname, ...rest].filter(Boolean).join(" ");
  return alertSchema.parse({
    source: "slack",
    fingerprint: createHash("sha256").update(text).digest("hex").slice(0, 32),
    status: "firing",
    title,
    service: labels.service ?? null,
    labels,
    annotations: rest.length ? { description: rest.join(" ") } : {},
  });
}
