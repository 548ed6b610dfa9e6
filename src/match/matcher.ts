import { isFailureModeId, type FailureModeId } from "../catalog/ids.ts";
import type { Catalog } from "../catalog/types.ts";
import type { Alert } from "../sdk/alert.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import { alertText, combine, effectiveAlertname } from "./alert-text.ts";
import { compileClassifier, MODE_THRESHOLD, type ModeScore } from "./classify.ts";
import { Trigrams } from "./gate.ts";
import { compileRule, type CompiledRule } from "./rules.ts";
import { paramShape } from "../plan/bind.ts";
import { storesNamed, STORES, targetParams, type DataStore } from "../plan/targets.ts";
import type { Candidate, Matcher, MatchResult } from "./types.ts";

/** A playbook is proposed only at or above this combined score. */
export const CANDIDATE_THRESHOLD = 0.5;
/* A playbook that answers a runner-up failure mode gets this share of that mode's score. */
const RUNNER_UP_SHARE = 0.5;

interface CompiledPlaybook {
  readonly id: string;
  readonly failureModes: readonly string[];
  /** Its own failure modes plus those whose catalog entry lists it. */
  readonly answers: ReadonlySet<string>;
  readonly rules: readonly CompiledRule[];
  /** The data stores its target params name (redis, postgres): it never answers an alert about another one. */
  readonly stores: ReadonlySet<DataStore>;
  /** Required params that are not targets: fromAlert must fill them, or it cannot be proposed. */
  readonly required: readonly string[];
  readonly fromAlert: AnyPlaybook["fromAlert"];
}

/** Required, non-target params of a playbook: no default, not optional. */
function requiredParams(pb: AnyPlaybook): string[] {
  const targets = targetParams(pb.params);
  return Object.entries(paramShape(pb.params))
    .filter(([name, s]) => !targets.has(name) && !s.safeParse(undefined).success)
    .map(([name]) => name);
}

function missingFromAlert(p: CompiledPlaybook, alert: Alert): string[] {
  if (p.required.length === 0) return [];
  let filled: Record<string, unknown> = {};
  try {
    filled = (p.fromAlert(alert) as Record<string, unknown>) ?? {};
  } catch {
    /* a fromAlert that throws fills nothing */
  }
  return p.required.filter((k) => filled[k] === undefined || filled[k] === null || filled[k] === "");
}

/**
 * Compiles the catalog's signals and the playbooks' match rules once; `match` is then pure
 * and cheap enough for an alert storm.
 *
 * @example
 * const matcher = createMatcher(playbooks, catalog);
 * matcher.match(alert).candidates[0]?.playbook; // "redis-maxmemory-policy"
 */
export function createMatcher(playbooks: readonly AnyPlaybook[], catalog: Catalog): Matcher {
  const classifier = compileClassifier(catalog);
  const compiled: CompiledPlaybook[] = playbooks.map((p) => {
    const answers = new Set<string>(p.failureModes);
    for (const mode of catalog) if (mode.playbooks.includes(p.id)) answers.add(mode.id);
    const rules = p.match.map(compileRule).filter((r): r is CompiledRule => r !== null);
    const stores = new Set([...targetParams(p.params).values()].map((t) => t.kind).filter((k): k is DataStore => (STORES as readonly string[]).includes(k)));
    return { id: p.id, failureModes: p.failureModes, answers, rules, stores, required: requiredParams(p), fromAlert: p.fromAlert };
  });

  const grams = new Trigrams(); // scratch, reused: match is synchronous

  function rank(modes: readonly ModeScore[], alert: Alert, text: string, lower: string, alertname: string | null): Candidate[] {
    const candidates: Candidate[] = [];
    const named = storesNamed(alert, text);
    grams.load(lower);
    for (const p of compiled) {
      // A Redis playbook never answers an alert that names Postgres (and not Redis), whatever its words.
      if (p.stores.size > 0 && named.size > 0 && ![...p.stores].some((s) => named.has(s))) continue;
      let score = 0;
      let reasons: string[] | null = null;
      for (let i = 0; i < modes.length; i++) {
        const m = modes[i]!;
        if (!p.answers.has(m.mode.id)) continue;
        score = i === 0 ? m.score : m.score * RUNNER_UP_SHARE;
        reasons = [i === 0 ? `failure mode ${m.mode.id}` : `failure mode ${m.mode.id} (runner-up)`, ...m.reasons];
        break;
      }
      for (const rule of p.rules) {
        const evidence = rule.test(alert, text, grams, alertname);
        if (!evidence) continue;
        score = combine(score, evidence.strength);
        (reasons ??= []).push(evidence.reason);
      }
      if (score < CANDIDATE_THRESHOLD) continue;
      const missing = missingFromAlert(p, alert);
      candidates.push({ playbook: p.id, score: round(score), reasons: reasons ?? [], ...(missing.length > 0 ? { missing } : {}) });
    }
    return candidates.sort((a, b) => b.score - a.score || (a.playbook < b.playbook ? -1 : a.playbook > b.playbook ? 1 : 0));
  }

  return {
    match(alert: Alert): MatchResult {
      const text = alertText(alert);
      const lower = text.toLowerCase();
      const alertname = effectiveAlertname(alert, classifier.knowsAlertname);
      const scored = classifier.classify(alert, text, lower, alertname, alert.labels.alertname !== undefined);
      const modes = scored.filter((s) => s.score >= MODE_THRESHOLD);
      const candidates = rank(modes, alert, text, lower, alertname);

      let failureMode: FailureModeId | null = modes[0]?.mode.id ?? null;
      if (failureMode === null && candidates.length > 0) {
        // No catalog signal fits, but a playbook's own rule does: it names what it answers.
        const top = compiled.find((p) => p.id === candidates[0]!.playbook);
        failureMode = top?.failureModes.find(isFailureModeId) ?? null;
      }
      return {
        fingerprint: alert.fingerprint,
        title: alert.title || alertname || "",
        failureMode,
        // A resolved alert is recognised, but there is nothing left to remedy.
        candidates: alert.status === "resolved" ? [] : candidates,
      };
    },
  };
}

const cache = new WeakMap<readonly AnyPlaybook[], WeakMap<Catalog, Matcher>>();

/**
 * Matches one alert. Compiles on first use of a (playbooks, catalog) pair and reuses it, so
 * pass the same arrays; `createMatcher` makes the reuse explicit.
 */
export function matchAlert(alert: Alert, playbooks: readonly AnyPlaybook[], catalog: Catalog): MatchResult {
  let byCatalog = cache.get(playbooks);
  if (!byCatalog) cache.set(playbooks, (byCatalog = new WeakMap()));
  let matcher = byCatalog.get(catalog);
  if (!matcher) byCatalog.set(catalog, (matcher = createMatcher(playbooks, catalog)));
  return matcher.match(alert);
}

function round(score: number): number {
  return Math.round(score * 1000) / 1000;
}
