import type { Alert } from "../sdk/alert.ts";

/** The annotations that carry prose, in the order people read them. */
const PROSE_ANNOTATIONS = ["summary", "description", "message"] as const;

/**
 * The free text of an alert that text patterns are tested against: the title and the prose
 * annotations (summary, description, message), each once.
 */
export function alertText(alert: Alert): string {
  let text = alert.title;
  for (const key of PROSE_ANNOTATIONS) {
    const value = alert.annotations[key];
    if (value && !text.includes(value)) text = text ? `${text}\n${value}` : value;
  }
  return text;
}

/*
 * "[FIRING:2] KubePodCrashLooping shop (api ...)": Alertmanager's default subject, as PagerDuty
 * titles carry it: the group labels' values sorted by label name, then in parentheses the other
 * common labels' values. alertname need not come first (`group_by: [cluster, alertname]` puts
 * the cluster first; without alertname in group_by it is inside the parentheses).
 */
const SUBJECT = /^\s*\[(?:FIRING|RESOLVED)(?::\d+)?\]\s*(.*)$/s;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An alert rule's usual shape: PascalCase with a lower-case letter after a capital (KubePodCrashLooping, PGIsUp). */
const RULE_LIKE = /^[A-Z][A-Za-z0-9_]*[a-z][A-Za-z0-9_]*$/;

/** The alert name in a default subject: a known one first, then one shaped like a rule name, then the first value. */
function subjectAlertname(rest: string, isKnown: (name: string) => boolean): string | null {
  const values = rest.replace(/[()]/g, " ").split(/\s+/).filter((v) => NAME.test(v));
  return values.find(isKnown) ?? values.find((v) => RULE_LIKE.test(v) && /[A-Z].*[a-z]|[a-z].*[A-Z]/.test(v)) ?? values[0] ?? null;
}
const TOKEN = /[A-Za-z][A-Za-z0-9_]{4,}/g;

/**
 * The alert's name: its `alertname` label, else the name an Alertmanager subject line leads
 * with, else the first title word that `isKnown` recognises. Null when there is none.
 */
export function effectiveAlertname(alert: Alert, isKnown: (name: string) => boolean): string | null {
  const label = alert.labels.alertname;
  if (label) return label;
  const title = alert.title;
  if (!title) return null;
  const subject = SUBJECT.exec(title);
  if (subject) {
    const name = subjectAlertname(subject[1]!, isKnown);
    if (name) return name;
  }
  for (const token of title.match(TOKEN) ?? []) if (isKnown(token)) return token;
  return null;
}

/** A short quote of what a pattern matched, for a reason. */
export function quote(matched: string): string {
  const oneLine = matched.replace(/\s+/g, " ").trim();
  return oneLine.length > 60 ? `${oneLine.slice(0, 57)}...` : oneLine;
}

/** Evidence strengths combine like independent probabilities (noisy-OR). */
export function combine(a: number, b: number): number {
  return 1 - (1 - a) * (1 - b);
}
