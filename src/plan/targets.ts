import type { z } from "zod";
import type { Alert } from "../sdk/alert.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import { targetSpecOf, type TargetKind, type TargetParamSpec } from "../sdk/target.ts";
import { paramShape, type ParamIssue } from "./bind.ts";

/** What resolution needs of the targets config: the names of each kind and their label matchers. */
export type TargetDirectory = Partial<Record<TargetKind, Record<string, { labels?: Record<string, string> | undefined }>>>;

/** How a target param got its value, for the proposal and the surfaces that show it. */
export interface TargetResolution {
  param: string;
  kind: TargetKind;
  /** The target's name; null when belay could not tell and asks. */
  name: string | null;
  how: "given" | "label" | "matcher" | "only" | "asked";
  /** A sentence for humans: which label or matcher decided, or why nothing did. */
  detail: string;
}

export interface ResolvedTargets {
  params: Record<string, unknown>;
  resolutions: TargetResolution[];
  /** One per unresolved target param: what the form asks for, and why. */
  issues: ParamIssue[];
}

export type DataStore = "redis" | "postgres";
export const STORES: readonly DataStore[] = ["redis", "postgres"];
const STORE_WORDS: Record<DataStore, RegExp> = {
  redis: /\bredis/i,
  postgres: /\b(postgres(ql)?|pg_[a-z]|pgbouncer|psql)/i,
};
/** Labels that say which service or exporter an alert is about. */
const STORE_LABELS = ["alertname", "job", "service", "container", "app", "app_kubernetes_io_name", "exporter"];

/** The data stores an alert names: in its identity labels or its text. Empty: it names none (it could be any). */
export function storesNamed(alert: Alert, text: string): Set<DataStore> {
  const out = new Set<DataStore>();
  for (const s of STORES) {
    if (STORE_LABELS.some((l) => STORE_WORDS[s].test(alert.labels[l] ?? "")) || STORE_WORDS[s].test(text)) out.add(s);
  }
  return out;
}

/** The params of a playbook marked with `target()`, by name. */
export function targetParams(schema: z.ZodType): Map<string, TargetParamSpec> {
  const out = new Map<string, TargetParamSpec>();
  for (const [name, s] of Object.entries(paramShape(schema))) {
    let cur: unknown = s;
    for (let i = 0; cur && i < 10; i++) {
      const spec = targetSpecOf(cur);
      if (spec) {
        out.set(name, spec);
        break;
      }
      const def = (cur as { _zod?: { def?: { innerType?: unknown; in?: unknown } } })._zod?.def;
      cur = def?.innerType ?? def?.in;
    }
  }
  return out;
}

/** Whether one configured matcher value ("exact" or "/regex/", anchored) matches a label value. */
export function labelMatches(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (pattern.length >= 2 && pattern.startsWith("/") && pattern.endsWith("/")) {
    try {
      return new RegExp(`^(?:${pattern.slice(1, -1)})$`).test(value);
    } catch {
      return false;
    }
  }
  return pattern === value;
}

/** The configured targets of a kind whose `labels:` all match the alert's labels (targets without labels never match). */
export function targetsMatching(dir: TargetDirectory, kind: TargetKind, labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(dir[kind] ?? {})
    .filter(([, t]) => t.labels && Object.keys(t.labels).length > 0 && Object.entries(t.labels).every(([k, p]) => labelMatches(p, labels[k])))
    .map(([name]) => name)
    .sort();
}

const show = (labels: Record<string, string> | undefined) =>
  Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");

/**
 * Fills a playbook's target params. Pure. For each param marked with `target()` and not
 * given: a label naming a configured target, else the one target whose `labels:` matchers
 * all match, else the only target of the kind; otherwise the param is left for a human with
 * the reason (two targets matching is such a reason, never a guess).
 */
export function resolveTargets(pb: AnyPlaybook, alert: Alert | null, directory: TargetDirectory | null, given: Readonly<Record<string, unknown>>): ResolvedTargets {
  // null: the configured names are not known here (an embedding without config): a label naming a target is taken as it is.
  const dir = directory ?? {};
  const params: Record<string, unknown> = { ...given };
  const resolutions: TargetResolution[] = [];
  const issues: ParamIssue[] = [];
  for (const [param, spec] of targetParams(pb.params)) {
    const { kind, label } = spec;
    const configured = Object.keys(dir[kind] ?? {}).sort();
    const done = (name: string | null, how: TargetResolution["how"], detail: string) => {
      resolutions.push({ param, kind, name, how, detail });
      if (name) params[param] = name;
      else {
        delete params[param];
        issues.push({ field: param, message: detail });
      }
    };
    const value = given[param];
    if (typeof value === "string" && value !== "") {
      done(value, "given", `${kind} target ${value} given`);
      continue;
    }
    const labels = alert?.labels ?? {};
    const named = labels[label];
    if (named !== undefined && (configured.includes(named) || directory === null)) {
      done(named, "label", `alert label ${label}=${named} names it`);
      continue;
    }
    const matching = targetsMatching(dir, kind, labels);
    if (matching.length === 1) {
      done(matching[0]!, "matcher", `alert labels match targets.${kind}.${matching[0]}.labels (${show(dir[kind]?.[matching[0]!]?.labels)})`);
      continue;
    }
    if (matching.length > 1) {
      done(null, "asked", `the alert matches the labels of ${matching.length} ${kind} targets (${matching.join(", ")}); say which`);
      continue;
    }
    const why = named !== undefined ? `alert label ${label}=${named} names no configured ${kind} target` : null;
    if (configured.length === 1 && !why) {
      done(configured[0]!, "only", `the only configured ${kind} target`);
      continue;
    }
    if (configured.length === 0) {
      done(null, "asked", `no ${kind} target is configured (add targets.${kind}.<name> to BELAY_CONFIG)`);
      continue;
    }
    done(
      null,
      "asked",
      `${why ?? `the alert has no ${label} label`} and no targets.${kind}.*.labels match its labels${alert ? ` (${show(pickShown(labels))})` : ""}; configured: ${configured.join(", ")}`,
    );
  }
  return { params, resolutions, issues };
}

/** The labels worth showing when nothing matched: identity labels, not the annotations' noise. */
function pickShown(labels: Readonly<Record<string, string>>): Record<string, string> {
  const keep = ["instance", "job", "server", "service", "cluster", "namespace"];
  return Object.fromEntries(Object.entries(labels).filter(([k]) => keep.includes(k)));
}
