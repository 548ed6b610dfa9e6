import type { FailureModeId } from "../catalog/ids.ts";
import type { Alert } from "../sdk/alert.ts";

/** One playbook proposed for an alert, with why. */
export interface Candidate {
  readonly playbook: string;
  /** 0..1, evidence combined; candidates below the threshold are never listed. */
  readonly score: number;
  /** Human-readable, strongest first: "alertname KubePodCrashLooping (kubernetes-mixin)". */
  readonly reasons: readonly string[];
}

/** What `belay match` reports for one alert. */
export interface MatchResult {
  readonly fingerprint: string;
  readonly title: string;
  /** The recognised failure mode, or null when nothing fits well enough. */
  readonly failureMode: FailureModeId | null;
  /** Ranked best first; empty when nothing fits or when the alert is resolved. */
  readonly candidates: readonly Candidate[];
  /**
   * Playbooks that fit but cannot be proposed from this alert: required params it does not
   * carry (a human can still run them with those params). Never candidates.
   */
  readonly unfit?: readonly (Candidate & { readonly missing: readonly string[] })[];
}

/** A matcher compiled once for a set of playbooks and a catalog. */
export interface Matcher {
  match(alert: Alert): MatchResult;
}

/** One piece of evidence: its strength (0..1) and the sentence that explains it. */
export interface Evidence {
  readonly strength: number;
  readonly reason: string;
}
