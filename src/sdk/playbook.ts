import type { z } from "zod";
import type {
  ActSpec,
  DecisionContext,
  DiagnoseSpec,
  LockRule,
  LocksSpec,
  NotifySpec,
  PlaybookMeta,
  ReadContext,
  StepDef,
  StepKind,
  WaitSpec,
  When,
  WhenCheck,
} from "./types.ts";
import { defaultLocks, targetParamsOf, withWholeTargetKeys, type HasTargetParam } from "./target.ts";

const BRAND = Symbol.for("belay.playbook");

/** A step name not used yet in this playbook; a repeat is a compile error. */
type Fresh<N extends string, O> = N & (N extends keyof O ? { "duplicate step name": N } : unknown);

type Add<O, N extends string, R> = O & { readonly [K in N]: R };

/**
 * An act step on params naming no target (`target()`) must say what it locks, or that it
 * locks nothing and why: leaving `locks` out is a compile error there.
 */
type LocksRequired<S, P, O> = HasTargetParam<S> extends true ? unknown : { locks: LocksSpec<P, O> };

/** How an act step's locks are chosen (see ActBase.locks); throws for a step that says nothing and names no target. */
function lockRuleOf(playbookId: string, step: string, locks: unknown, params: unknown): LockRule {
  if (typeof locks === "function") return { kind: "given", fn: locks as Extract<LockRule, { kind: "given" }>["fn"] };
  if (locks === undefined) {
    const named = targetParamsOf(params);
    if (named.size === 0) {
      throw new Error(
        `playbook ${playbookId}: act step "${step}" declares no locks and its params name no target (target()); give locks: ({ params }) => [...] or locks: { none: "why nothing needs locking" }`,
      );
    }
    return { kind: "targets", params: [...named].map(([param, spec]) => ({ param, kind: spec.kind })) };
  }
  const reason = (locks as { none?: unknown } | null)?.none;
  if (typeof reason === "string" && reason.trim()) return { kind: "none", reason: reason.trim() };
  throw new Error(`playbook ${playbookId}: act step "${step}" has locks that are neither a function nor { none: "<reason>" }`);
}

function locksOf(rule: LockRule, params: unknown): (ctx: DecisionContext<any, any>) => readonly string[] {
  if (rule.kind === "given") return (ctx) => withWholeTargetKeys(rule.fn(ctx));
  if (rule.kind === "none") return () => [];
  const named = targetParamsOf(params);
  const fn = defaultLocks(named);
  return (ctx) => fn({ params: ctx.params as Record<string, unknown> });
}

const BARE_REASON = "its when condition is false";

/** Normalises a step's `when` (predicate, check or checks) into one predicate and a reason function. */
function conditionOf(when: When<any, any> | undefined): Pick<StepDef, "when" | "skipReason" | "conditions"> {
  if (when === undefined || when === null) return { when: null, skipReason: () => BARE_REASON, conditions: [] };
  if (typeof when === "function") return { when, skipReason: () => BARE_REASON, conditions: [null] };
  const checks: readonly WhenCheck<any, any>[] = Array.isArray(when) ? when : [when as WhenCheck<any, any>];
  for (const c of checks) {
    if (typeof c?.if !== "function" || (typeof c.reason !== "string" && typeof c.reason !== "function")) {
      throw new Error("a step's when must be a function, { if, reason }, or a list of { if, reason }");
    }
  }
  return {
    when: (ctx) => checks.every((c) => c.if(ctx)),
    skipReason: (ctx) => {
      const reasons: string[] = [];
      for (const c of checks) {
        try {
          if (c.if(ctx)) continue;
          reasons.push(typeof c.reason === "string" ? c.reason : c.reason(ctx));
        } catch (err) {
          reasons.push(`a condition's reason could not be computed (${err instanceof Error ? err.message : String(err)})`);
        }
      }
      return reasons.length > 0 ? reasons.join("; ") : BARE_REASON;
    },
    conditions: checks.map((c) => (typeof c.reason === "string" ? c.reason : null)),
  };
}

const DEFAULT_TIMEOUT_MS: Record<StepKind, number> = { diagnose: 60_000, act: 120_000, wait: 600_000, notify: 30_000 };

function stepDef(name: string, kind: StepKind, spec: Record<string, any>, lock: { rule: LockRule; params: unknown } | null = null): StepDef {
  return Object.freeze({
    name,
    kind,
    description: spec.description ?? "",
    risk: kind === "act" ? spec.risk : null,
    permissions: Object.freeze([...(spec.permissions ?? [])]),
    timeoutMs: spec.timeoutMs ?? DEFAULT_TIMEOUT_MS[kind],
    verifyTimeoutMs: spec.verifyTimeoutMs ?? 120_000,
    intervalMs: spec.intervalMs ?? 5_000,
    manual: Object.freeze([...(spec.manual ?? [])]),
    ...conditionOf(spec.when),
    locks: lock ? locksOf(lock.rule, lock.params) : null,
    lockRule: lock ? lock.rule : null,
    run: spec.run ?? null,
    preview: spec.preview ?? null,
    verify: spec.verify ?? null,
    rollback: spec.rollback ?? null,
    irreversible: spec.irreversible ?? null,
    until: spec.until ?? null,
    message: spec.message ?? null,
  });
}

/**
 * A playbook under construction, and a finished playbook at the same time: each call returns
 * a new builder with one more step, typed so later steps see earlier outputs by name.
 */
export class Playbook<S extends z.ZodType = z.ZodType, O = {}> {
  readonly [BRAND] = true;
  readonly id: string;
  readonly title: string;
  readonly summary: string;
  readonly failureModes: readonly string[];
  readonly match: NonNullable<PlaybookMeta<S>["match"]>;
  readonly params: S;
  readonly fromAlert: NonNullable<PlaybookMeta<S>["fromAlert"]>;
  readonly symptoms: readonly string[];
  readonly steps: readonly StepDef[];

  constructor(meta: PlaybookMeta<S>, steps: readonly StepDef[] = []) {
    this.id = meta.id;
    this.title = meta.title;
    this.summary = meta.summary;
    this.failureModes = Object.freeze([...meta.failureModes]);
    this.match = Object.freeze([...(meta.match ?? [])]);
    this.params = meta.params;
    this.fromAlert = meta.fromAlert ?? (() => ({}));
    this.symptoms = Object.freeze([...(meta.symptoms ?? [])]);
    this.steps = Object.freeze([...steps]);
  }

  private meta(): PlaybookMeta<S> {
    return {
      id: this.id,
      title: this.title,
      summary: this.summary,
      failureModes: this.failureModes,
      match: this.match,
      params: this.params,
      fromAlert: this.fromAlert,
      symptoms: this.symptoms,
    };
  }

  private with<O2>(step: StepDef): Playbook<S, O2> {
    if (this.steps.some((s) => s.name === step.name)) {
      throw new Error(`playbook ${this.id}: step name "${step.name}" is used twice`);
    }
    return new Playbook<S, O2>(this.meta(), [...this.steps, step]);
  }

  /**
   * A read-only step that runs at once, without approval. Its result is `outputs[name]` for later steps.
   *
   * @example
   * .diagnose("memory", ({ params, targets }) => targets.redis(params.redis).info("memory"))
   */
  diagnose<const N extends string, R>(
    name: Fresh<N, O>,
    spec: DiagnoseSpec<z.output<S>, O, R> & { when: When<z.output<S>, O> },
  ): Playbook<S, Add<O, N, R | undefined>>;
  diagnose<const N extends string, R>(
    name: Fresh<N, O>,
    spec: DiagnoseSpec<z.output<S>, O, R> | ((ctx: ReadContext<z.output<S>, O>) => R | Promise<R>),
  ): Playbook<S, Add<O, N, R>>;
  diagnose(name: string, spec: any): any {
    const s = typeof spec === "function" ? { run: spec } : spec;
    return this.with(stepDef(name, "diagnose", s));
  }

  /**
   * A mutating step: shown with its preview, run only after the approval policy for its
   * risk is met, then verified; a failed verify runs the rollback. Its output is
   * `R | undefined` for later steps, because a human may skip it.
   *
   * @example
   * .act("set-policy", { risk: "medium", permissions: ["redis:CONFIG"],
   *   preview: () => "maxmemory-policy noeviction -> allkeys-lru",
   *   run: ({ targets }) => targets.redis("cache").configSet("maxmemory-policy", "allkeys-lru"),
   *   verify: async ({ targets }) => (await targets.redis("cache").configGet("maxmemory-policy")) === "allkeys-lru",
   *   rollback: ({ targets }) => targets.redis("cache").configSet("maxmemory-policy", "noeviction") })
   */
  act<const N extends string, R>(name: Fresh<N, O>, spec: ActSpec<z.output<S>, O, R> & LocksRequired<S, z.output<S>, O>): Playbook<S, Add<O, N, R | undefined>> {
    const s = spec as unknown as Record<string, unknown>;
    if (typeof s.rollback !== "function" && !(typeof s.irreversible === "string" && s.irreversible.trim())) {
      throw new Error(`playbook ${this.id}: act step "${name}" needs a rollback or an irreversible reason`);
    }
    return this.with(stepDef(name, "act", s, { rule: lockRuleOf(this.id, name, s.locks, this.params), params: this.params }));
  }

  /**
   * Waits until a read-only condition holds, polling every `intervalMs`; fails the run at `timeoutMs`.
   *
   * @example
   * .wait("rollout-done", { timeoutMs: 300_000, until: ({ targets }) => checkRollout(targets) })
   */
  wait<const N extends string>(name: Fresh<N, O>, spec: WaitSpec<z.output<S>, O>): Playbook<S, Add<O, N, { waitedMs: number } | undefined>> {
    return this.with(stepDef(name, "wait", spec));
  }

  /**
   * Posts a message to wherever the run is being worked (the incident thread, the terminal).
   *
   * @example
   * .notify("tell-owners", { message: ({ params }) => `restarted ${params.deployment}` })
   */
  notify<const N extends string>(name: Fresh<N, O>, spec: NotifySpec<z.output<S>, O>): Playbook<S, Add<O, N, { message: string } | undefined>> {
    return this.with(stepDef(name, "notify", spec));
  }
}

/**
 * Starts a playbook. Chain its steps; export the result as the module's default.
 *
 * @example
 * export default playbook({ id: "redis-maxmemory-policy", title: "...", summary: "...",
 *   failureModes: ["redis-maxmemory"], params: z.object({ redis: z.string().default("cache") }) })
 *   .diagnose("memory", ({ params, targets }) => targets.redis(params.redis).info("memory"));
 */
export function playbook<S extends z.ZodType>(meta: PlaybookMeta<S>): Playbook<S, {}> {
  return new Playbook<S, {}>(meta);
}

/** A playbook of any params and outputs, as the engine handles it. */
export type AnyPlaybook = Playbook<z.ZodType, any>;

export function isPlaybook(value: unknown): value is AnyPlaybook {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
