import type { Alert } from "../sdk/alert.ts";
import type { MatchRule } from "../sdk/types.ts";
import { quote } from "./alert-text.ts";
import { requiredSubstrings, type Trigrams } from "./gate.ts";
import type { Evidence } from "./types.ts";

/*
 * How much a playbook's own match rule says, by the most specific field it tests. A rule
 * that tests only `source` says nothing about the failure and is ignored as evidence.
 */
const RULE_STRENGTH = { alertname: 0.9, text: 0.6, labels: 0.4 } as const;

export interface CompiledRule {
  /** The evidence when every field of the rule holds, else null. `grams` holds the trigrams of `text` lowercased. */
  test(alert: Alert, text: string, grams: Trigrams, alertname: string | null): Evidence | null;
}

function describe(value: string | RegExp): string {
  return typeof value === "string" ? value : String(value);
}

function holds(expected: string | RegExp, actual: string | undefined): boolean {
  if (actual === undefined) return false;
  return typeof expected === "string" ? expected === actual : expected.test(actual);
}

/* A caller's RegExp may carry g or y, whose lastIndex would make test() stateful. */
function stateless<T extends string | RegExp>(value: T): T {
  return (value instanceof RegExp && (value.global || value.sticky) ? new RegExp(value.source, value.flags.replace(/[gy]/g, "")) : value) as T;
}

export function compileRule(rule: MatchRule): CompiledRule | null {
  const alertname = rule.alertname === undefined ? undefined : stateless(rule.alertname);
  const text = rule.text === undefined ? undefined : stateless(rule.text);
  const labels = Object.entries(rule.labels ?? {}).map(([k, v]) => [k, stateless(v)] as const);
  const base = alertname !== undefined ? RULE_STRENGTH.alertname : text !== undefined ? RULE_STRENGTH.text : labels.length ? RULE_STRENGTH.labels : 0;
  const weight = Math.min(1, Math.max(0, rule.weight ?? 1));
  const strength = base * weight;
  if (strength <= 0) return null;

  // Fixed parts of the reason, built once; only a quoted text match varies per alert.
  const head = alertname !== undefined ? [`alertname ${describe(alertname)}`] : [];
  const tail = [...labels.map(([key, expected]) => `label ${key}=${describe(expected)}`), ...(rule.source !== undefined ? [`source ${rule.source}`] : [])];
  const fixedReason = `rule: ${[...head, ...tail].join(", ")}`;
  // Text rules often lack \b and alternate many phrases: skip the regexp unless a literal it needs is present.
  const needs = text !== undefined ? requiredSubstrings(text.source) : null;

  return {
    test(alert, alertText, grams, effectiveName) {
      if (rule.source !== undefined && alert.source !== rule.source) return null;
      if (alertname !== undefined && (effectiveName === null || !holds(alertname, effectiveName))) return null;
      for (const [key, expected] of labels) if (!holds(expected, alert.labels[key])) return null;
      if (text === undefined) return { strength, reason: fixedReason };
      if (needs !== null && !mayContainAny(grams, needs)) return null;
      const found = text.exec(alertText);
      if (!found) return null;
      return { strength, reason: `rule: ${[...head, `text '${quote(found[0])}'`, ...tail].join(", ")}` };
    },
  };
}

function mayContainAny(grams: Trigrams, needles: readonly string[]): boolean {
  for (const n of needles) if (grams.mayContain(n)) return true;
  return false;
}
