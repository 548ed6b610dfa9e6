import { createHash } from "node:crypto";
import { alertSchema, type Alert } from "../sdk/alert.ts";
import { DEFAULT_DETECT_WITHIN_S } from "../drills/detect.ts";

/** A parsed `/runbook` invocation. Parsing is pure; handlers decide what each one does. */
export type Command =
  | { kind: "help" }
  | { kind: "list"; query: string | null }
  | { kind: "show"; playbook: string }
  /** `near`: the text was one word close to a subcommand's name (a typo, perhaps); it is matched all the same. */
  | { kind: "match"; text: string; near?: string }
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

/**
 * The subcommands of `/runbook`, in the order help lists them. The parser recognises exactly
 * these names and aliases (anything else is alert text to match), and the help text and the
 * manifest's usage hint are made from (or checked against) this table.
 */
export const SUBCOMMANDS = [
  { name: "list", aliases: ["ls"], usage: "list [query]", summary: "playbooks, optionally filtered" },
  { name: "show", aliases: [], usage: "show <playbook>", summary: "its steps, risks and params" },
  { name: "match", aliases: [], usage: "match <text>", summary: "which failure mode and playbooks fit an alert (`alertname=X key=value` or free text; any text that is not a subcommand is matched too)" },
  { name: "run", aliases: [], usage: "run <playbook> [key=value ...] [incident=<id>]", summary: "propose a run here, or in the incident's thread (a form opens for missing params)" },
  { name: "status", aliases: [], usage: "status [run]", summary: "a run, or the runs in progress" },
  { name: "abort", aliases: [], usage: "abort <run> [reason]", summary: "stop a run" },
  { name: "history", aliases: [], usage: "history [n]", summary: "recent runs" },
  { name: "audit", aliases: [], usage: "audit <incident|run>", summary: "the audit timeline" },
  { name: "postmortem", aliases: ["review"], usage: "postmortem <incident>", summary: "a review draft from the audit trail" },
  { name: "retriage", aliases: [], usage: "retriage <incident>", summary: "match and propose again (after a failed or withdrawn proposal)" },
  { name: "drill", aliases: [], usage: "drill list|start <drill>|abort [drill run]", summary: "game-day drills (labelled DRILL)" },
  { name: "help", aliases: ["?"], usage: "help", summary: "this list" },
] as const satisfies readonly { name: string; aliases: readonly string[]; usage: string; summary: string }[];

export type SubcommandName = (typeof SUBCOMMANDS)[number]["name"];

/** The subcommand a first word names (its name or an alias, any case), or null: then the text is an alert to match. */
export function subcommandOf(word: string): SubcommandName | null {
  const w = word.toLowerCase();
  return SUBCOMMANDS.find((c) => c.name === w || (c.aliases as readonly string[]).includes(w))?.name ?? null;
}

/** A subcommand the word is probably a typo of (at most two edits away), for a hint beside the match. */
export function nearSubcommand(word: string): SubcommandName | null {
  const w = word.toLowerCase();
  if (w.length < 3 || !/^[a-z]+$/.test(w)) return null;
  let best: { name: SubcommandName; d: number } | null = null;
  for (const c of SUBCOMMANDS) {
    const d = editDistance(w, c.name);
    if (d <= 2 && d < c.name.length / 2 && (!best || d < best.d)) best = { name: c.name, d };
  }
  return best?.name ?? null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** A run, incident or drill run id as belay makes them. */
const BELAY_ID = /^(run|inc|drl)_[A-Za-z0-9]+$/;

export function parseCommand(raw: string): Command {
  const text = unescapeSlack(raw).trim();
  const words = tokenize(text);
  if (words.length === 0) return { kind: "help" };
  const verb = words[0]!.toLowerCase();
  const sub = subcommandOf(verb);
  // Not a subcommand: the whole text is an alert to match (`/runbook redis OOM command not allowed`).
  if (sub === null) {
    // One word, or one followed by a belay id (`abrot run_...`): probably a typo, so the reply asks.
    const near = words.length === 1 || BELAY_ID.test(words[1]!) ? nearSubcommand(verb) : null;
    return { kind: "match", text, ...(near ? { near } : {}) };
  }
  const args = words.slice(1);
  const restText = text.slice(text.toLowerCase().indexOf(verb) + verb.length).trim();
  switch (sub) {
    case "help":
      return { kind: "help" };
    case "list":
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
      const action = (args[0] ?? "list").toLowerCase();
      if (action === "list") return { kind: "drill", action: "list" };
      if (action === "start") {
        if (!args[1]) return { kind: "usage", message: "Start which drill? `drill start <drill>`; `drill list` shows them." };
        if (args[2] === undefined) return { kind: "drill", action: "start", drill: args[1] };
        const within = args[3] === undefined ? DEFAULT_DETECT_WITHIN_S : Number(args[3]);
        if (args[2].toLowerCase() !== "real" || !Number.isInteger(within) || within < 1 || within > 3600 || args.length > 4) {
          return { kind: "usage", message: `\`drill start ${clipWord(args[1])} ${clipWord(args.slice(2).join(" "))}\`: use \`drill start <drill>\` (a DRILL alert) or \`drill start <drill> real [seconds]\` (wait up to that many seconds, 1 to 3600, default ${DEFAULT_DETECT_WITHIN_S}, for your monitoring's own alert).` };
        }
        return { kind: "drill", action: "start", drill: args[1], detectWithinS: within };
      }
      if (action === "abort" || action === "stop") return { kind: "drill", action: "abort", drillRun: args[1] ?? null };
      return { kind: "usage", message: `\`drill ${clipWord(action)}\`: use \`drill list\`, \`drill start <drill>\` or \`drill abort [drill run]\`.` };
    }
    case "postmortem":
      return args[0] ? { kind: "postmortem", incident: args[0] } : { kind: "usage", message: "Review which incident? `postmortem <incident>`." };
    case "retriage":
      return args[0] ? { kind: "retriage", incident: args[0] } : { kind: "usage", message: "Triage which incident again? `retriage <incident>`." };
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
