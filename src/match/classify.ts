import type { AlertnameSignal, Catalog, FailureMode } from "../catalog/types.ts";
import type { Alert } from "../sdk/alert.ts";
import { combine, quote } from "./alert-text.ts";
import { forEachTokenKey, gateKeys } from "./gate.ts";

/*
 * Evidence strengths. Combined per failure mode with noisy-OR; a mode counts only at or above
 * MODE_THRESHOLD. An exact alert name decides on its own; one specific text pattern does
 * too; labels only ever support (even a decisive-looking value stays below the threshold).
 */
export const STRENGTH = {
  alertnameExact: 0.9,
  alertnameCaseless: 0.85,
  alertnameFromTitle: 0.8,
  firstText: 0.6,
  moreText: 0.3,
  labelValue: 0.3,
  labelPresent: 0.05,
} as const;
export const MODE_THRESHOLD = 0.5;

/** The evidence for one failure mode. */
export interface ModeScore {
  readonly mode: FailureMode;
  readonly score: number;
  readonly reasons: readonly string[];
  /** True when the alert's name is one this mode lists: such a mode ranks first. */
  readonly byName: boolean;
}

interface LabelHintEntry {
  readonly modeIndex: number;
  readonly value: string | RegExp | undefined;
}

interface NameEntry {
  readonly modeIndex: number;
  readonly signal: AlertnameSignal;
}

export interface Classifier {
  /** Every failure mode with any evidence, best first (not thresholded). */
  classify(alert: Alert, text: string, lower: string, alertname: string | null, nameFromLabel: boolean): ModeScore[];
  /** True for an alert name some failure mode lists. */
  knowsAlertname(name: string): boolean;
}

export interface ClassifierOptions {
  /** Skip patterns whose required words are absent (default true). Off only to test the gate. */
  readonly prefilter?: boolean;
}

export function compileClassifier(catalog: Catalog, options: ClassifierOptions = {}): Classifier {
  const prefilter = options.prefilter ?? true;
  const modes = catalog;
  // Every text pattern, flattened in catalog order, with the index of its mode.
  const patterns: RegExp[] = [];
  const patternMode: number[] = [];
  const alwaysRun: number[] = [];
  const byGateKey = new Map<number, number[]>();
  catalog.forEach((mode, modeIndex) => {
    for (const p of mode.signals.textPatterns) {
      const index = patterns.push(new RegExp(p.source, p.flags.replace(/[gy]/g, ""))) - 1;
      patternMode.push(modeIndex);
      const keys = prefilter ? gateKeys(p.source) : null;
      if (keys === null) alwaysRun.push(index);
      else for (const key of keys) byGateKey.set(key, [...(byGateKey.get(key) ?? []), index]);
    }
  });
  // Scratch marks: patterns[i] may match when marks[i] === stamp. Reused across calls (match is synchronous).
  const marks = new Uint32Array(patterns.length);
  let stamp = 0;
  const mark = (key: number) => {
    const list = byGateKey.get(key);
    if (list) for (const i of list) marks[i] = stamp;
  };

  const byName = new Map<string, NameEntry>();
  const byLowerName = new Map<string, NameEntry>();
  const hintsByLabel = new Map<string, LabelHintEntry[]>();
  catalog.forEach((mode, modeIndex) => {
    for (const signal of mode.signals.alertnames) {
      if (!byName.has(signal.name)) byName.set(signal.name, { modeIndex, signal });
      const lower = signal.name.toLowerCase();
      if (!byLowerName.has(lower)) byLowerName.set(lower, { modeIndex, signal });
    }
    for (const hint of mode.signals.labelHints) {
      const list = hintsByLabel.get(hint.label) ?? [];
      list.push({ modeIndex, value: hint.value });
      hintsByLabel.set(hint.label, list);
    }
  });

  // Per-call scratch, reset through `touched`; classify is synchronous, so reuse is safe.
  const scores = new Float64Array(modes.length);
  const reasons: (string[] | null)[] = new Array(modes.length).fill(null);
  const named = new Uint8Array(modes.length);
  const touched: number[] = [];
  const add = (i: number, strength: number, reason: string) => {
    if (scores[i] === 0) touched.push(i);
    scores[i] = combine(scores[i]!, strength);
    (reasons[i] ??= []).push(reason);
  };
  const presentModes: number[] = [];
  const presentLabels: string[] = [];

  function classify(alert: Alert, text: string, lower: string, alertname: string | null, nameFromLabel: boolean): ModeScore[] {
    for (const i of touched) (scores[i] = 0), (reasons[i] = null), (named[i] = 0);
    touched.length = 0;

    if (alertname) {
      const exact = byName.get(alertname);
      const entry = exact ?? byLowerName.get(alertname.toLowerCase());
      if (entry) {
        const { name, ruleSet } = entry.signal;
        const strength = !nameFromLabel ? STRENGTH.alertnameFromTitle : exact ? STRENGTH.alertnameExact : STRENGTH.alertnameCaseless;
        const shown = name === alertname ? name : `${alertname} (as ${name})`;
        add(entry.modeIndex, strength, `${nameFromLabel ? "alertname" : "title names"} ${shown} (${ruleSet})`);
        named[entry.modeIndex] = 1;
      }
    }

    if (text) {
      if (stamp === 0xffffffff) (stamp = 0), marks.fill(0);
      stamp++;
      forEachTokenKey(lower, mark);
      for (const i of alwaysRun) marks[i] = stamp;
      let lastMode = -1;
      let hits = 0;
      for (let i = 0; i < patterns.length; i++) {
        if (marks[i] !== stamp) continue;
        const found = patterns[i]!.exec(text);
        if (!found) continue;
        const m = patternMode[i]!;
        if (m !== lastMode) (lastMode = m), (hits = 0);
        add(m, hits === 0 ? STRENGTH.firstText : STRENGTH.moreText, `text '${quote(found[0])}'`);
        hits++;
      }
    }

    presentModes.length = 0;
    presentLabels.length = 0;
    for (const label in alert.labels) {
      const hints = hintsByLabel.get(label);
      if (!hints) continue;
      const value = alert.labels[label]!;
      for (const hint of hints) {
        if (hint.value === undefined) presentModes.push(hint.modeIndex), presentLabels.push(label);
        else if (typeof hint.value === "string" ? hint.value === value : hint.value.test(value)) {
          add(hint.modeIndex, STRENGTH.labelValue, `label ${label}=${value}`);
        }
      }
    }
    // A label's mere presence only supports a mode that has evidence of its own.
    for (let k = 0; k < presentModes.length; k++) {
      const i = presentModes[k]!;
      if (scores[i]! > 0) add(i, STRENGTH.labelPresent, `label ${presentLabels[k]}`);
    }

    const out: ModeScore[] = [];
    for (const i of touched) out.push({ mode: modes[i]!, score: scores[i]!, reasons: reasons[i]!, byName: named[i] === 1 });
    return out.length > 1 ? out.sort(byStrength) : out;
  }

  return { classify, knowsAlertname: (name) => byName.has(name) };
}

/* A known alert name outranks any amount of text: rule sets name what they detect. */
function byStrength(a: ModeScore, b: ModeScore): number {
  if (a.byName !== b.byName) return a.byName ? -1 : 1;
  if (b.score !== a.score) return b.score - a.score;
  return a.mode.id < b.mode.id ? -1 : a.mode.id > b.mode.id ? 1 : 0;
}
