import { z } from "zod";

/** The kinds of configured target a playbook param can name. */
export type TargetKind = "redis" | "postgres" | "kube";

export interface TargetParamSpec {
  kind: TargetKind;
  /** The alert label that names the target outright (`redis: cache`); defaults to the kind (`cluster` for kube). */
  label: string;
}

const targets = new WeakMap<object, TargetParamSpec>();

declare const TARGET_BRAND: unique symbol;
/** A param schema made by `target()`: a string, marked (for the compiler too) as naming a target. */
export type TargetSchema<K extends TargetKind = TargetKind> = z.ZodString & { readonly [TARGET_BRAND]: K };

/**
 * Marks a param as the name of a configured target. Belay fills it from the alert: a label
 * naming the target (`redis: cache`), else the target whose `labels:` all match the alert's,
 * else the only target of that kind; if none of these decides, the human is asked.
 *
 * @example
 * params: z.object({ redis: target("redis"), key: z.string() })
 */
export function target<K extends TargetKind>(kind: K, opts: { label?: string; description?: string } = {}): TargetSchema<K> {
  const schema = z.string().min(1, `name a configured ${kind} target`).describe(opts.description ?? `configured ${kind} target (targets.${kind}.<name>)`);
  targets.set(schema, { kind, label: opts.label ?? (kind === "kube" ? "cluster" : kind) });
  return schema as TargetSchema<K>;
}

/** Whether a param schema names a target, through `.default()`, `.optional()` and `.nullable()` (as targetParamsOf finds it). */
type IsTargetSchema<T, Depth extends unknown[] = []> = Depth["length"] extends 5
  ? false
  : T extends { readonly [TARGET_BRAND]: TargetKind }
    ? true
    : T extends z.ZodDefault<infer I> | z.ZodOptional<infer I> | z.ZodNullable<infer I> | z.ZodPrefault<infer I>
      ? IsTargetSchema<I, [...Depth, unknown]>
      : false;

/** `true` when a params schema (an object) has a param made by `target()`. */
export type HasTargetParam<S> = S extends z.ZodObject<infer Shape> ? (true extends { [K in keyof Shape]: IsTargetSchema<Shape[K]> }[keyof Shape] ? true : false) : false;

export function targetSpecOf(schema: unknown): TargetParamSpec | null {
  return typeof schema === "object" && schema !== null ? (targets.get(schema) ?? null) : null;
}

/** zod 4 internals read to find target params: a def's type, inner schema and object shape. */
interface Def {
  type?: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
}
const defOf = (s: unknown): Def => (s as { _zod?: { def?: Def } } | null)?._zod?.def ?? {};

/** The params of a params schema marked with `target()`, by name, in the schema's order. */
export function targetParamsOf(schema: unknown): Map<string, TargetParamSpec> {
  let obj = schema;
  for (let i = 0; i < 10 && defOf(obj).type !== "object"; i++) obj = defOf(obj).innerType ?? defOf(obj).in;
  const out = new Map<string, TargetParamSpec>();
  for (const [name, s] of Object.entries(defOf(obj).shape ?? {})) {
    let cur: unknown = s;
    for (let i = 0; cur && i < 10; i++) {
      const spec = targetSpecOf(cur);
      if (spec) {
        out.set(name, spec);
        break;
      }
      cur = defOf(cur).innerType ?? defOf(cur).in;
    }
  }
  return out;
}

// Redis and Postgres targets are one server each: a part key takes the whole server's key.
// A kube target is a whole cluster: serialising every change to it would let a long drain
// hold up an unrelated rollback at 3 a.m., so kube part keys stay parts.
const TARGET_KEY = /^(redis|postgres):([^/]+)\/./;

/**
 * The lock keys a step takes, from the keys it names: each key on a part of a configured
 * target (`redis:cache/clients`, `kube:prod/deployments/api`) also takes the whole target's
 * key (`redis:cache`, `kube:prod`). Locks conflict only on equal keys, so this is what makes
 * a step locking a whole target (the default, see defaultLocks) exclude every step changing
 * a part of it. The price: two runs changing different parts of one target take turns.
 */
export function withWholeTargetKeys(keys: readonly string[]): string[] {
  const out = new Set<string>();
  for (const k of keys) {
    const m = TARGET_KEY.exec(k);
    if (m) out.add(`${m[1]}:${m[2]}`);
    out.add(k);
  }
  return [...out];
}

/**
 * The locks of an act step that names none: every target its params name, whole
 * (`redis:<name>`, `postgres:<name>`, `kube:<name>`). A target param left empty (optional)
 * locks nothing.
 */
export function defaultLocks(targetParams: ReadonlyMap<string, TargetParamSpec>): (ctx: { params: Record<string, unknown> }) => string[] {
  const entries = [...targetParams];
  return ({ params }) =>
    entries.flatMap(([param, spec]) => {
      const name = params[param];
      return typeof name === "string" && name !== "" ? [`${spec.kind}:${name}`] : [];
    });
}
