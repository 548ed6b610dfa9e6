import type { FailureModeId } from "../catalog/ids.ts";
import type { Alert } from "../sdk/alert.ts";

/** One playbook proposed for an alert, with why. */
export interface Candidate {
  readonly playbook: string;
  /** 0..1, evidence combined; candidates below the threshold are never listed. */
  readonly score: number;
  /** Human-readable, strongest first: "alertname KubePodCrashLooping (kubernetes-mixin)". */
  readonly reasons: readonly string[];
  /**
   * Required params the alert does not carry (fromAlert cannot fill them): it fits, but
   * cannot be proposed from this alert; a human can run it with them. Absent: proposable.
   */
  readonly missing?: readonly string[];
}

/** What `belay match` reports for one alert. */
export interface MatchResult {
  readonly fingerprint: string;
  readonly title: string;
  /** The recognised failure mode, or null when nothing fits well enough. */
  readonly failureMode: FailureModeId | null;
  /** Ranked best first; empty when nothing fits or when the alert is resolved. */
  readonly candidates: readonly Candidate[];
}

/** The best candidate triage may propose from the alert alone: the first with no missing params. */
export function proposable(result: Pick<MatchResult, "candidates">): Candidate | null {
  return result.candidates.find((c) => !c.missing?.length) ?? null;
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
