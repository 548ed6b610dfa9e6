import { z } from "zod";

/** The kinds of configured target a playbook param can name. */
export type TargetKind = "redis" | "postgres" | "kube";

export interface TargetParamSpec {
  kind: TargetKind;
  /** The alert label that names the target outright (`redis: cache`); defaults to the kind (`cluster` for kube). */
  label: string;
}

const targets = new WeakMap<object, TargetParamSpec>();

/**
 * Marks a param as the name of a configured target. Belay fills it from the alert: a label
 * naming the target (`redis: cache`), else the target whose `labels:` all match the alert's,
 * else the only target of that kind; if none of these decides, the human is asked.
 *
 * @example
 * params: z.object({ redis: target("redis"), key: z.string() })
 */
export function target(kind: TargetKind, opts: { label?: string; description?: string } = {}): z.ZodString {
  const schema = z.string().min(1, `name a configured ${kind} target`).describe(opts.description ?? `configured ${kind} target (targets.${kind}.<name>)`);
  targets.set(schema, { kind, label: opts.label ?? (kind === "kube" ? "cluster" : kind) });
  return schema;
}

export function targetSpecOf(schema: unknown): TargetParamSpec | null {
  return typeof schema === "object" && schema !== null ? (targets.get(schema) ?? null) : null;
}
