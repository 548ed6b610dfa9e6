import { labelMatches, type TargetDirectory } from "../plan/targets.ts";
import type { TargetKind } from "../sdk/target.ts";

/** How a drill learns its fault was detected: its own synthetic alert, or the team's real monitoring. */
export type DetectMode = { mode: "synthetic" } | { mode: "real"; withinS: number };

export const DEFAULT_DETECT_WITHIN_S = 120;

/**
 * Which real alerts are about the drill's target: a label naming it (`redis: cache`), else
 * the target's `labels:` matchers from BELAY_CONFIG (all must match). A target without
 * matchers is identified by the label naming it only, unless it is the only target of its
 * kind (then any alert of the expected name counts, and `how` says so).
 */
export function realAlertMatcher(dir: TargetDirectory | undefined, kind: string, target: string): { matches: (labels: Readonly<Record<string, string>>) => boolean; how: string } {
  const ofKind = (dir?.[kind as TargetKind] ?? {}) as Record<string, { labels?: Record<string, string> | undefined }>;
  const matchers = ofKind[target]?.labels ?? {};
  const entries = Object.entries(matchers);
  const named = (labels: Readonly<Record<string, string>>) => labels[kind] === target;
  if (entries.length > 0) {
    return {
      matches: (labels) => named(labels) || entries.every(([k, p]) => labelMatches(p, labels[k])),
      how: `labels ${kind}="${target}" or targets.${kind}.${target}.labels (${entries.map(([k, p]) => `${k}=${p}`).join(", ")})`,
    };
  }
  const only = Object.keys(ofKind).length === 1 && ofKind[target] !== undefined;
  return only
    ? { matches: () => true, how: `the only ${kind} target (no labels: configured for it: any alert of that name counts)` }
    : { matches: named, how: `label ${kind}="${target}" (set targets.${kind}.${target}.labels to match your exporter's labels)` };
}
