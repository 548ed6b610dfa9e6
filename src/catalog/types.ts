import type { FailureModeId } from "./ids.ts";

export type { FailureModeId };

export type FailureModeCategory =
  | "kubernetes-workloads"
  | "kubernetes-nodes"
  | "performance"
  | "databases"
  | "caches"
  | "operations";

/** The public rule set an alert name comes from, named in match reasons. */
export type RuleSet =
  | "kubernetes-mixin"
  | "node-mixin"
  | "coredns-mixin"
  | "prometheus-mixin"
  | "kube-prometheus"
  | "postgres-mixin"
  | "pgbouncer-mixin"
  | "cert-manager-mixin"
  | "ingress-nginx-mixin"
  | "awesome-prometheus-alerts"
  | "charmed-postgresql"
  | "cloudnative-pg"
  | "pgmonitor"
  | "common";

/** An alert name exactly as a public rule set ships it. */
export interface AlertnameSignal {
  readonly name: string;
  readonly ruleSet: RuleSet;
}

/**
 * A label that hints at a failure mode. Without `value` it is presence only, which is
 * weak evidence (it supports, it never decides); with a value it must equal (string) or
 * match (RegExp) the label's value.
 */
export interface LabelHint {
  readonly label: string;
  readonly value?: string | RegExp;
}

export interface FailureModeSignals {
  readonly alertnames: readonly AlertnameSignal[];
  readonly labelHints: readonly LabelHint[];
  /**
   * Tested against free text: title, summary, description, message. Each pattern must be
   * specific to this failure mode on its own; a lone generic word ("error", "down") is not one.
   */
  readonly textPatterns: readonly RegExp[];
}

/** One canonical failure mode: what it looks like, how it is recognised, what answers it. */
export interface FailureMode {
  readonly id: FailureModeId;
  readonly category: FailureModeCategory;
  /** One line: what a human sees. */
  readonly symptom: string;
  readonly signals: FailureModeSignals;
  /** What prevents it or limits the damage. */
  readonly defences: readonly string[];
  /** Ids of playbooks that answer it. Unknown ids are tolerated by the matcher. */
  readonly playbooks: readonly string[];
}

export type Catalog = readonly FailureMode[];

/** Builds alertname signals of one rule set: `from("kubernetes-mixin", "KubePodCrashLooping")`. */
export function from(ruleSet: RuleSet, ...names: string[]): AlertnameSignal[] {
  return names.map((name) => ({ name, ruleSet }));
}
