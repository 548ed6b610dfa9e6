import type { z } from "zod";
import type { Risk } from "../approve/policy.ts";
import type { Alert } from "./alert.ts";
import type { Targets } from "../targets/types.ts";
import type { PreviewTargets, ReadOnlyTargets } from "../targets/facade.ts";

export type { Risk };

/** What a step may log; lines land in the run's log, never in the audit trail. */
export interface StepLogger {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
}

/**
 * What every step function receives. `run` and `rollback` get the full targets; the others
 * get read-only ones (see ReadContext, PreviewContext).
 */
export interface StepContext<P, O, T = Targets> {
  /** The bound, validated params. */
  readonly params: Readonly<P>;
  /** Outputs of earlier steps, by step name (after a JSON round trip, as they are stored). */
  readonly outputs: Readonly<O>;
  /** Named connections from configuration. A playbook never holds a credential. */
  readonly targets: T;
  readonly log: StepLogger;
  /** Aborted when the step times out; pass it to anything that can be cancelled. */
  readonly signal: AbortSignal;
  readonly run: { readonly id: string; readonly incidentId: string | null; readonly dryRun: boolean; readonly requestedBy: string };
}

/**
 * What diagnose, verify and wait see: targets without their mutating operations. Calling one
 * is a compile error, and at run time a `target.read_only` error.
 *
 * @example
 * .diagnose("memory", ({ targets }) => targets.redis("cache").memoryInfo())
 */
export type ReadContext<P, O> = StepContext<P, O, ReadOnlyTargets>;

/**
 * What a preview sees: reads, and mutating operations that always run as a dry run
 * (`dryRun: true` is forced, whatever the preview passes).
 *
 * @example
 * preview: ({ targets }) => targets.redis("cache").configSet("maxmemory-policy", "allkeys-lru")
 */
export type PreviewContext<P, O> = StepContext<P, O, PreviewTargets>;

/** What a `when` condition or a lock function sees: no targets, no I/O. */
export interface DecisionContext<P, O> {
  readonly params: Readonly<P>;
  readonly outputs: Readonly<O>;
}

export type Awaitable<T> = T | Promise<T>;

/**
 * One condition of a step, with the reason the step is not needed when it does not hold.
 *
 * @example
 * when: { if: ({ outputs }) => outputs.memory.maxmemoryBytes > 0,
 *         reason: "maxmemory is 0 (no limit): Redis never refuses writes for memory" }
 * when: [{ if: ({ outputs }) => outputs.idle.count > 0, reason: ({ outputs }) => `no client idle past the threshold (of ${outputs.idle.total})` }]
 */
export interface WhenCheck<P, O> {
  /** The step runs only if this holds. */
  if: (ctx: DecisionContext<P, O>) => boolean;
  /** Why the step is not needed when `if` is false, in words a person reads in the thread. */
  reason: string | ((ctx: DecisionContext<P, O>) => string);
}

/**
 * A step's condition: a bare predicate (its skip says only "its when condition is false"),
 * one `{ if, reason }`, or a list of them that must all hold.
 */
export type When<P, O> = ((ctx: DecisionContext<P, O>) => boolean) | WhenCheck<P, O> | readonly WhenCheck<P, O>[];

/** A preview: one line, several lines, or a title with a diff. */
/**
 * A preview: one line, several lines, or a summary with a diff. `data` travels to `run` as
 * `previewData`, so the step changes exactly what it showed (the keys listed, the pids named).
 */
export type PreviewValue = string | readonly string[] | { readonly summary: string; readonly diff?: string; readonly data?: unknown };

export type VerifyValue = boolean | { readonly ok: boolean; readonly detail?: string };

interface StepCommon<P, O> {
  /** One sentence for the plan and the runbook. */
  description?: string;
  /** Target permissions the step needs, e.g. `apps/deployments:patch`, `redis:CONFIG`. */
  permissions?: readonly string[];
  /** Step timeout (default 60 s for diagnose/notify, 120 s for act). */
  timeoutMs?: number;
  /**
   * Skip the step unless this holds. Decided from params and earlier outputs only. Give the
   * reason as `{ if, reason }` (or a list of them, all of which must hold): the reasons of the
   * conditions that failed are the skip's reason in Slack, the CLI and the audit trail.
   */
  when?: When<P, O>;
  /**
   * What an engineer types by hand when belay is down. `{param}` placeholders are filled
   * from params in the generated runbook.
   */
  manual?: readonly string[];
}

export interface DiagnoseSpec<P, O, R> extends StepCommon<P, O> {
  run: (ctx: ReadContext<P, O>) => Awaitable<R>;
}

/** An act step's locks: keys computed from params and outputs, or none, with the reason. */
export type LocksSpec<P, O> = ((ctx: DecisionContext<P, O>) => readonly string[]) | { readonly none: string };

interface ActBase<P, O, R> extends StepCommon<P, O> {
  risk: Risk;
  permissions: readonly string[];
  /**
   * Lock keys of what this step mutates, e.g. `kube:prod/deployments/api`. Two runs never hold
   * one at once, and a key on a part of a target also takes the whole target's (`kube:prod`).
   * Left out, the step locks every target its params name (`target()`), whole. A step whose
   * params name no target must give its keys or say `{ none: "why nothing needs locking" }`.
   */
  locks?: LocksSpec<P, O>;
  /** Exactly what will change. Read-only; runs before anyone is asked to approve. */
  preview: (ctx: PreviewContext<P, O>) => Awaitable<PreviewValue>;
  run: (ctx: StepContext<P, O> & { readonly preview: string; readonly previewData: unknown }) => Awaitable<R>;
  /** Did the change take? Read-only. */
  verify: (ctx: ReadContext<P, O> & { readonly result: R }) => Awaitable<VerifyValue>;
  verifyTimeoutMs?: number;
}

/** An act step either undoes itself or says why it cannot. */
export type ActSpec<P, O, R> = ActBase<P, O, R> &
  (
    | { rollback: (ctx: StepContext<P, O> & { readonly result: R }) => Awaitable<unknown>; irreversible?: never }
    | { irreversible: string; rollback?: never }
  );

export interface WaitSpec<P, O> extends StepCommon<P, O> {
  /** Polled until it holds or the timeout passes. Read-only. */
  until: (ctx: ReadContext<P, O>) => Awaitable<boolean>;
  timeoutMs: number;
  intervalMs?: number;
}

export interface NotifySpec<P, O> extends StepCommon<P, O> {
  message: (ctx: DecisionContext<P, O>) => string;
}

export type StepKind = "diagnose" | "act" | "wait" | "notify";

/* The runtime shape of a step: what the engine, docs and plans read. Functions are untyped here. */
type AnyFn = (ctx: any) => any;
export interface StepDef {
  readonly name: string;
  readonly kind: StepKind;
  readonly description: string;
  readonly risk: Risk | null;
  readonly permissions: readonly string[];
  readonly timeoutMs: number;
  readonly verifyTimeoutMs: number;
  readonly intervalMs: number;
  readonly manual: readonly string[];
  /** The step's condition, all checks combined; null: the step always runs. */
  readonly when: ((ctx: DecisionContext<any, any>) => boolean) | null;
  /** Why the step is skipped, from the checks that failed (call it only when `when` is false). Never throws. */
  readonly skipReason: (ctx: DecisionContext<any, any>) => string;
  /** The conditions' reasons as written (a computed reason shows as `null`), for runbooks. */
  readonly conditions: readonly (string | null)[];
  /**
   * The keys an act step locks (null for other kinds): what it names, or by default every
   * target its params name, each key on a part of a target with the whole target's key too.
   */
  readonly locks: ((ctx: DecisionContext<any, any>) => readonly string[]) | null;
  /** For runbooks: how the locks were chosen (given, defaulted from the target params, or none and why). */
  readonly lockRule: LockRule | null;
  readonly run: AnyFn | null;
  readonly preview: AnyFn | null;
  readonly verify: AnyFn | null;
  readonly rollback: AnyFn | null;
  readonly irreversible: string | null;
  readonly until: AnyFn | null;
  readonly message: ((ctx: DecisionContext<any, any>) => string) | null;
}

export type LockRule =
  | { readonly kind: "given"; readonly fn: (ctx: DecisionContext<any, any>) => readonly string[] }
  | { readonly kind: "targets"; readonly params: readonly { readonly param: string; readonly kind: string }[] }
  | { readonly kind: "none"; readonly reason: string };

/** A match rule: every field given must hold. Regexps test, strings compare exactly. */
export interface MatchRule {
  alertname?: string | RegExp;
  labels?: Record<string, string | RegExp>;
  source?: Alert["source"];
  /** Tested against the title, summary and description of the alert. */
  text?: RegExp;
  /** Evidence weight, 0..1 (default 1). */
  weight?: number;
}

export interface PlaybookMeta<S extends z.ZodType> {
  id: string;
  title: string;
  summary: string;
  /** Catalog failure-mode ids this playbook answers. */
  failureModes: readonly string[];
  match?: readonly MatchRule[];
  params: S;
  /** Fill params from an alert's labels; whatever it cannot fill stays for a human. */
  fromAlert?: (alert: Alert) => Partial<z.input<S>>;
  /** Symptoms, for the runbook: what a human sees. */
  symptoms?: readonly string[];
}
