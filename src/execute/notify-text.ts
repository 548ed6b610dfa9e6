/**
 * What a notify step delivers. A playbook writes its follow-up for the run it expects (the
 * change made and verified); the engine knows what really happened to every act step before
 * the notify. When all of them changed the system (and the run is not a dry run), the
 * playbook's text goes out as written. Otherwise it is not sent: the message is made from the
 * steps' real states instead, so a skipped or dry-run change is never announced as done.
 *
 * Pure: (written text, steps, skip events, dry run) -> text.
 */

export interface NotifyStep {
  idx: number;
  name: string;
  kind: string;
  status: string;
  preview: string | null;
}

/** The audit events that say who or what skipped a step (`step.skipped`). */
export interface NotifyEvent {
  kind: string;
  step: string | null;
  actor: string;
  surface: string;
  data: Record<string, unknown>;
}

export interface NotifyFacts {
  /** The notify step's index: only act steps before it are what it can speak of. */
  idx: number;
  dryRun: boolean;
  steps: readonly NotifyStep[];
  events: readonly NotifyEvent[];
}

export interface NotifyText {
  text: string;
  /** True when the playbook's own text was not sent. */
  replaced: boolean;
}

const WITHHELD = "The playbook's follow-up is not sent: it was written for changes that did not happen.";

/** True when the text the playbook wrote can be sent as it is: every earlier act step really changed something. */
export function isWrittenTextTrue(f: Pick<NotifyFacts, "idx" | "dryRun" | "steps">): boolean {
  const acts = f.steps.filter((s) => s.kind === "act" && s.idx < f.idx);
  return acts.length === 0 || (!f.dryRun && acts.every((s) => s.status === "succeeded"));
}

/** The text a notify step delivers: the playbook's own, or (when it would claim what did not happen) the facts. */
export function notifyText(written: string, f: NotifyFacts): NotifyText {
  if (isWrittenTextTrue(f)) return { text: written, replaced: false };
  const acts = f.steps.filter((s) => s.kind === "act" && s.idx < f.idx);
  const lines = acts.map((s) => `\`${s.name}\` ${stateOf(s, f)}`);
  const changed = !f.dryRun && acts.some((s) => s.status === "succeeded");
  // A change skipped after an interruption may have reached the target: "nothing" is not known.
  const maybe = !f.dryRun && acts.some((s) => s.status === "skipped" && lastSkip(f.events, s.name)?.wasUncertain);
  const lead = f.dryRun ? "DRY RUN: nothing was changed." : changed ? "Not every change was made:" : maybe ? "Nothing is known to have changed:" : "Nothing was changed:";
  const body = lines.length === 1 && !changed ? ` ${lines[0]}.` : ` ${lines.join("; ")}.`;
  return { text: `${lead}${body} ${WITHHELD}`, replaced: true };
}

function stateOf(s: NotifyStep, f: NotifyFacts): string {
  if (f.dryRun || s.status === "previewed") return `was only previewed${s.preview ? ` (${oneLine(s.preview)})` : ""}`;
  switch (s.status) {
    case "succeeded":
      return "was changed and verified";
    case "skipped": {
      const skip = lastSkip(f.events, s.name);
      if (!skip || skip.byCondition) return `was not needed${skip?.reason ? ` (${skip.reason})` : ""}`;
      const why = skip.reason && !skip.reason.startsWith("skipped by") ? ` (${skip.reason})` : "";
      if (skip.wasUncertain) return `was skipped by ${skip.by} after it was interrupted${why} (its change may have been applied: check the target)`;
      return `was skipped by ${skip.by}${why}`;
    }
    case "rolled_back":
      return "was rolled back";
    case "failed":
      return "failed";
    default:
      return `is ${s.status.replace(/_/g, " ")}`;
  }
}

function lastSkip(events: readonly NotifyEvent[], step: string): { byCondition: boolean; by: string; reason: string | null; wasUncertain: boolean } | null {
  let last: NotifyEvent | null = null;
  for (const e of events) if (e.kind === "step.skipped" && e.step === step) last = e;
  if (!last) return null;
  const byCondition = last.data.by === "condition" || (last.actor === "belay" && last.surface === "engine");
  return { byCondition, by: last.actor, reason: typeof last.data.reason === "string" ? last.data.reason : null, wasUncertain: last.data.was === "uncertain" };
}

function oneLine(text: string): string {
  const line = text.split("\n")[0]!.trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
