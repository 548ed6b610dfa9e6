/**
 * What a run did to the system, in the words every surface uses. A run's status says how the
 * engine finished it; its outcome says what happened to the target: something changed and was
 * verified, nothing was needed (and which conditions said so), a person skipped the change, it
 * failed, it was rolled back. Only `changed` is a fix: "nothing needed" is never shown as one.
 *
 * Pure: (run, steps, events) -> outcome, so Slack, the CLI, the incident root, PagerDuty notes
 * and the postmortem all say the same thing.
 */

export type OutcomeKind =
  | "in_progress"
  | "changed"
  | "nothing_needed"
  | "diagnosed"
  | "skipped_by_person"
  | "failed"
  | "rolled_back"
  | "aborted"
  | "previewed";

export interface RunOutcome {
  kind: OutcomeKind;
  /** A few words: `changed and verified`, `nothing needed`, `failed`, ... */
  label: string;
  /** True only when a change was made and verified, and nothing failed after it. */
  fixed: boolean;
  /** Why, one line each: the verified changes, the conditions that skipped steps, the failure. */
  reasons: string[];
  /** Act steps whose change was made and verified. */
  changed: string[];
}

export interface OutcomeRun {
  status: string;
  statusReason: string | null;
  dryRun?: boolean;
}

export interface OutcomeStep {
  name: string;
  kind: string;
  status: string;
}

export interface OutcomeEvent {
  kind: string;
  step: string | null;
  actor: string;
  surface: string;
  data: Record<string, unknown>;
}

const IN_PROGRESS_LABEL: Record<string, string> = {
  pending: "in progress",
  running: "in progress",
  waiting: "waiting for a lock",
  awaiting_approval: "waiting for approval",
  awaiting_decision: "waiting for a decision",
};

interface Skip {
  step: string;
  reason: string;
  by: string | null;
  /** The step was interrupted (uncertain) when the person skipped it: its change may have been applied. */
  wasUncertain: boolean;
}

/** How each skipped step came to be skipped: its own condition (by null), or a person. */
function skipsOf(steps: readonly OutcomeStep[], events: readonly OutcomeEvent[]): Skip[] {
  const out: Skip[] = [];
  for (const s of steps) {
    if (s.status !== "skipped") continue;
    let last: OutcomeEvent | null = null;
    for (const e of events) if (e.kind === "step.skipped" && e.step === s.name) last = e;
    const byCondition = last === null || last.data.by === "condition" || (last.actor === "belay" && last.surface === "engine");
    const reason = last && typeof last.data.reason === "string" ? last.data.reason : byCondition ? "its when condition is false" : "skipped";
    out.push({ step: s.name, reason, by: byCondition ? null : last!.actor, wasUncertain: last?.data.was === "uncertain" });
  }
  return out;
}

function verifiedDetail(events: readonly OutcomeEvent[], step: string): string | null {
  let detail: string | null = null;
  for (const e of events) if (e.kind === "step.verified" && e.step === step && typeof e.data.detail === "string") detail = e.data.detail;
  return detail;
}

export function runOutcome(run: OutcomeRun, steps: readonly OutcomeStep[], events: readonly OutcomeEvent[]): RunOutcome {
  const acts = steps.filter((s) => s.kind === "act");
  const changed = acts.filter((s) => s.status === "succeeded").map((s) => s.name);
  const changeLines = changed.map((n) => {
    const d = verifiedDetail(events, n);
    return `${n} changed and verified${d ? `: ${d}` : ""}`;
  });
  const skips = skipsOf(acts, events);
  const bySomeone = skips.filter((s) => s.by !== null);
  const byCondition = skips.filter((s) => s.by === null);
  const skipLines = [
    ...bySomeone.map(
      (s) =>
        `${s.step} skipped by ${s.by}${s.wasUncertain ? " after it was interrupted" : ""}${s.reason && !s.reason.startsWith("skipped by") ? `: ${s.reason}` : ""}${s.wasUncertain ? " (its change may have been applied: check the target)" : ""}`,
    ),
    ...byCondition.map((s) => `${s.step} not needed: ${s.reason}`),
  ];
  const out = (kind: OutcomeKind, label: string, reasons: string[], fixed = false): RunOutcome => ({ kind, label, fixed, reasons, changed });
  const why = run.statusReason ? [run.statusReason] : [];

  if (IN_PROGRESS_LABEL[run.status]) return out("in_progress", IN_PROGRESS_LABEL[run.status]!, [...changeLines, ...skipLines, ...why]);
  switch (run.status) {
    case "previewed":
      return out("previewed", "dry run: nothing changed", skipLines);
    case "rolled_back":
      return out("rolled_back", "rolled back", [...why, ...changeLines]);
    case "failed":
      return out("failed", changed.length > 0 ? "failed after changing something" : "failed", [...why, ...changeLines.map((l) => `before that: ${l}`)]);
    case "aborted":
      return out("aborted", changed.length > 0 ? "aborted after changing something" : "aborted, nothing changed", [...why, ...changeLines]);
    case "succeeded":
      if (changed.length > 0) return out("changed", "changed and verified", [...changeLines, ...skipLines], true);
      // A person skipping an interrupted step settles it without knowing whether its change landed.
      if (bySomeone.some((s) => s.wasUncertain)) return out("skipped_by_person", "skipped by a person after it was interrupted: may have changed something", skipLines);
      if (bySomeone.length > 0) return out("skipped_by_person", "skipped by a person, nothing changed", skipLines);
      if (acts.length === 0) return out("diagnosed", "diagnosed only, nothing changed", ["the playbook has no step that changes anything"]);
      return out("nothing_needed", "nothing needed, nothing changed", skipLines);
    default:
      return out("in_progress", run.status.replace(/_/g, " "), why);
  }
}

/** One line for a status line or a note: `nothing needed, nothing changed: set-policy not needed: maxmemory is 0`. */
export function outcomeLine(o: RunOutcome, maxReasons = 2): string {
  const r = o.reasons.slice(0, maxReasons);
  return `${o.label}${r.length ? ` — ${r.join("; ")}` : ""}`;
}
