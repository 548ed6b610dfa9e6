import type { Alert } from "./alert.ts";
import type { Targets } from "../targets/types.ts";

/*
 * Game-day drills, typed like playbooks: one file per drill in playbooks/drills/, a
 * `drill({...})` head, then its injections, its recovery check and its abort conditions.
 */

const BRAND = Symbol.for("belay.drill");

type Awaitable<T> = T | Promise<T>;

/** `live`: the injection really changes a (staging or loopback) system. `rehearsal`: its effects are simulated and labelled so. */
export type DrillMode = "live" | "rehearsal";

/** The synthetic alert a drill expects, sent through belay's real Alertmanager webhook and marked DRILL. */
export interface DrillAlert {
  alertname: string;
  /** One line; belay prefixes it with `DRILL <drill run>:`. */
  summary: string;
  severity?: NonNullable<Alert["severity"]>;
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
}

/** What must happen, and how fast, for the hypothesis to hold. Seconds from the alert. */
export interface DrillCriteria {
  /** The playbook belay should propose; null when the drill expects no playbook to fit (a gap to find). */
  playbook: string | null;
  /** Seconds from the alert until the proposal (or, with no playbook expected, the triage). */
  proposedWithinS: number;
  /** Seconds from the proposal until its first mutating step is approved (omit when no playbook is expected). */
  approvedWithinS?: number;
  /** Seconds from the injection until the recovery check holds (omit to measure no recovery). */
  recoveredWithinS?: number;
}

/** An HTTP endpoint probed during the drill (GET, loopback or staging), judged against thresholds. */
export interface DrillProbe {
  url: string;
  intervalMs?: number;
  timeoutMs?: number;
  /** 0..1: more failed or non-2xx answers than this fails the criterion. */
  maxErrorRate?: number;
  maxP95Ms?: number;
  /** Requests in flight at once (a bounded load for traffic-spike drills; default 1). */
  concurrency?: number;
}

/** Probe figures so far. */
export interface ProbeStats {
  requests: number;
  errors: number;
  errorRate: number;
  p95Ms: number | null;
}

/** Raw fault primitives a drill's injections use: what targets deliberately do not offer. */
export interface RedisFaults {
  configGet(parameter: string): Promise<string | null>;
  configSet(parameter: string, value: string): Promise<void>;
  usedMemory(): Promise<number>;
  /**
   * Writes keys `prefix<n>` (each with a TTL, made to look long idle so an LRU policy evicts
   * them before anyone else's) until Redis refuses a write with OOM, or `maxKeys`.
   */
  fillUntilOom(opts: { prefix: string; valueBytes: number; ttlMs: number; maxKeys: number }): Promise<{ keys: number; oom: boolean; error: string | null }>;
  /** One small write with a TTL: does Redis take writes now? */
  tryWrite(key: string, ttlMs: number): Promise<{ ok: boolean; error: string | null }>;
  /** DEL of every key under the prefix (SCAN, never KEYS). */
  deleteByPrefix(prefix: string): Promise<number>;
}

/**
 * The simulated world of a rehearsal: Kubernetes target `drill-rehearsal` reads and writes
 * this state, and every simulated effect is recorded (and reported) as SIMULATED.
 */
export interface Simulation {
  /** Sets a fault on a simulated Deployment (`namespace/name`): OOMKilled pods, crashing pods, no ready endpoints. */
  fault(deployment: string, fault: SimulatedFault | null): void;
  faultOf(deployment: string): SimulatedFault | null;
  /** Rollout restarts and limit changes the rehearsal's playbook made. */
  restarts(deployment: string): number;
  /** Every simulated effect, in order, each line starting with `SIMULATED`. */
  readonly effects: readonly string[];
  note(effect: string): void;
}

export type SimulatedFault =
  | { kind: "oom-killed"; container?: string; limit?: string }
  | { kind: "crashing"; reason: string; logs?: string }
  | { kind: "hung"; logs?: string }
  | { kind: "unreachable"; logs?: string }
  /** Serving from a fallback: slower, some errors; no restart fixes it. */
  | { kind: "degraded"; latencyMs: number; errorRate: number; logs?: string };

export interface DrillFaults {
  redis(name: string): RedisFaults;
  readonly simulation: Simulation;
}

/** What injections, recovery checks and abort conditions receive. */
export interface DrillContext {
  /** The target the drill acts on (its default, or `--target`). */
  readonly target: string;
  /**
   * The targets, as this phase may use them: in `preview` every mutating call is a dry run;
   * in `capture`, `recovered` and `abortWhen` mutating calls throw target.read_only; in `run`
   * and `undo` only targets marked `drill: true` are there (a rehearsal: only its simulated
   * cluster), any other name throws drill.target_refused.
   */
  readonly targets: Targets;
  /**
   * Fault primitives. In `preview` and `capture` only their reads (configGet, usedMemory)
   * work; in a rehearsal `faults.redis` throws drill.rehearsal (use `faults.simulation`).
   */
  readonly faults: DrillFaults;
  readonly drillRunId: string;
  readonly mode: DrillMode;
  /** A prefix unique to this drill run, for keys and names it creates. */
  readonly scratch: string;
  readonly signal: AbortSignal;
  log(message: string): void;
}

/** An injection: preview, what undo needs (captured and stored before anything changes), run, undo. */
export interface InjectionSpec<U> {
  description?: string;
  /** Set for rehearsal effects: shown and reported as SIMULATED. */
  simulated?: boolean;
  /** Exactly what will change. Read-only. */
  preview: (ctx: DrillContext) => Awaitable<string>;
  /** Read-only: the state undo needs (JSON). Stored durably before `run` starts. */
  capture: (ctx: DrillContext) => Awaitable<U>;
  run: (ctx: DrillContext & { readonly undo: U }) => Awaitable<unknown>;
  /** Always runs at the end: on success, failure, abort, and after a crash. Must be idempotent. */
  undo: (ctx: DrillContext & { readonly undo: U }) => Awaitable<unknown>;
}

export interface RecoveryView {
  /** The belay run proposed for the drill's incident, if any. */
  readonly run: { readonly id: string; readonly status: string; readonly playbookId: string } | null;
}

export type CheckValue = boolean | { readonly ok: boolean; readonly detail?: string };

export interface DrillMeta {
  id: string;
  title: string;
  /** What the team believes: "if X, then Y, and the on-call restores Z within N minutes". */
  hypothesis: string;
  mode: DrillMode;
  /** The kind of target and its default name (`--target` overrides the name). */
  target: { kind: "redis" | "postgres" | "kube" | "http" | "simulated"; name: string };
  /** Who and what could notice: keeps the drill honest about its risk. */
  blastRadius: string;
  /** What a rehearsal stands in for, when `mode` is rehearsal. */
  rehearsalNote?: string;
  alert: DrillAlert | ((ctx: { target: string }) => DrillAlert);
  expect: DrillCriteria;
  probe?: DrillProbe | ((ctx: { target: string }) => DrillProbe);
  /** Keep the injection on at least this long, e.g. for a load to mean something (default 0). */
  holdS?: number;
  /** The drill is aborted (and undone) past this (default 10 minutes). */
  maxDurationS?: number;
}

export interface InjectionDef {
  readonly name: string;
  readonly description: string;
  readonly simulated: boolean;
  readonly preview: (ctx: DrillContext) => Awaitable<string>;
  readonly capture: (ctx: DrillContext) => Awaitable<unknown>;
  readonly run: (ctx: DrillContext & { readonly undo: any }) => Awaitable<unknown>;
  readonly undo: (ctx: DrillContext & { readonly undo: any }) => Awaitable<unknown>;
}

export interface AbortConditionDef {
  readonly name: string;
  /** A reason to stop now, or null/false to go on. */
  readonly check: (ctx: DrillContext & { readonly elapsedS: number; readonly probe: ProbeStats | null }) => Awaitable<string | null | false>;
}

/**
 * A drill under construction and a finished drill at once: each call returns a new drill.
 */
export class Drill {
  readonly [BRAND] = true;
  constructor(
    readonly meta: Readonly<DrillMeta>,
    readonly injections: readonly InjectionDef[] = [],
    readonly recoveredCheck: ((ctx: DrillContext & RecoveryView) => Awaitable<CheckValue>) | null = null,
    readonly abortConditions: readonly AbortConditionDef[] = [],
  ) {}

  get id(): string {
    return this.meta.id;
  }

  /**
   * A reversible change to the target. Its undo state is captured and stored before it runs,
   * and undo always runs at the end (also on abort, and after a crash).
   *
   * @example
   * .inject("tiny-maxmemory", {
   *   preview: () => "maxmemory -> used + 256 KiB, policy noeviction",
   *   capture: async ({ faults, target }) => ({ maxmemory: await faults.redis(target).configGet("maxmemory") }),
   *   run: ({ faults, target }) => faults.redis(target).configSet("maxmemory", "1mb"),
   *   undo: ({ faults, target, undo }) => faults.redis(target).configSet("maxmemory", undo.maxmemory ?? "0") })
   */
  inject<U>(name: string, spec: InjectionSpec<U>): Drill {
    if (this.injections.some((i) => i.name === name)) throw new Error(`drill ${this.id}: injection "${name}" is used twice`);
    const def: InjectionDef = Object.freeze({
      name,
      description: spec.description ?? "",
      simulated: spec.simulated ?? false,
      preview: spec.preview,
      capture: spec.capture,
      run: spec.run,
      undo: spec.undo,
    });
    return new Drill(this.meta, [...this.injections, def], this.recoveredCheck, this.abortConditions);
  }

  /**
   * Has the system recovered? Polled after the injection; the first time it holds is the
   * recovery time. Without one, recovery is the proposed run succeeding.
   *
   * @example
   * .recovered(async ({ faults, target, scratch }) => (await faults.redis(target).tryWrite(`${scratch}probe`, 30_000)).ok)
   */
  recovered(check: (ctx: DrillContext & RecoveryView) => Awaitable<CheckValue>): Drill {
    return new Drill(this.meta, this.injections, check, this.abortConditions);
  }

  /**
   * Stops the drill (and undoes the injection) when it returns a reason.
   *
   * @example
   * .abortWhen("probe-errors", ({ probe }) => probe && probe.errorRate > 0.5 ? "half the requests fail" : null)
   */
  abortWhen(name: string, check: AbortConditionDef["check"]): Drill {
    return new Drill(this.meta, this.injections, this.recoveredCheck, [...this.abortConditions, Object.freeze({ name, check })]);
  }
}

/**
 * Starts a drill. Chain its injections; export the result as the module's default from a file
 * in playbooks/drills/.
 *
 * @example
 * export default drill({ id: "redis-maxmemory", title: "Redis at maxmemory", mode: "live",
 *   hypothesis: "If Redis hits maxmemory, belay proposes the policy fix and writes recover within 10 minutes",
 *   target: { kind: "redis", name: "cache" }, blastRadius: "writers of the cache",
 *   alert: { alertname: "RedisOutOfConfiguredMaxmemory", summary: "OOM command not allowed" },
 *   expect: { playbook: "redis-maxmemory-policy", proposedWithinS: 60, approvedWithinS: 300, recoveredWithinS: 600 } })
 *   .inject("tiny-maxmemory", { ... });
 */
export function drill(meta: DrillMeta): Drill {
  if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(meta.id)) throw new Error(`drill id "${meta.id}" must be kebab-case`);
  return new Drill(Object.freeze({ ...meta }));
}

export function isDrill(value: unknown): value is Drill {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
