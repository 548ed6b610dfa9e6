import { BelayError } from "../errors.ts";
import { operations, type OperationTables, type TargetKind } from "./operations.ts";
import { throwIfStepAborted } from "./step-signal.ts";
import type { MutateOptions, Targets } from "./types.ts";

/**
 * Read-only views of the targets, derived from the operations table. Diagnose, verify and
 * wait steps get `read` facades (no mutating methods, in the type and at run time); previews
 * get `preview` facades, whose mutating methods always run with `dryRun: true` whatever the
 * caller passes; only `run` and `rollback` get `full` facades, every operation of the target.
 * In every mode an operation called after the step was aborted (it timed out, the run lost
 * its lease) throws the abort's reason instead of reaching the target: a run() that keeps
 * going after its step was given up on changes nothing more.
 */
export type TargetMode = "read" | "preview" | "full";

type MutatingKeys<Tbl> = { [K in keyof Tbl]: Tbl[K] extends { readonly mutates: true } ? K : never }[keyof Tbl];

/** A target without the operations its table marks as mutating. */
export type ReadOnly<T, Tbl> = Omit<T, MutatingKeys<Tbl> & keyof T>;

type TargetOf<K extends TargetKind> = ReturnType<Targets[K]>;

/** What diagnose, verify, wait and previews' reads may touch. */
export type ReadOnlyTargets = {
  [K in TargetKind]: (...name: Parameters<Targets[K]>) => K extends keyof OperationTables ? ReadOnly<TargetOf<K>, OperationTables[K]> : TargetOf<K>;
};

/** Same shape as Targets; every mutating call is a dry run. */
export type PreviewTargets = Targets;

type AnyFn = (...args: unknown[]) => unknown;

/**
 * `resolve` is asked for the real target at every call (it is a map lookup), so a facade
 * never holds on to a client that has since been closed and reopened.
 */
function facade(kind: TargetKind, resolve: () => object, mode: TargetMode): object {
  const view: Record<string, unknown> = { name: (resolve() as { name: string }).name };
  const call = async (op: string, args: unknown[]) => {
    throwIfStepAborted();
    const target = resolve() as Record<string, AnyFn>;
    return target[op]!.apply(target, args);
  };
  for (const op of operations[kind]) {
    if (!op.mutates || mode === "full") {
      view[op.name] = (...args: unknown[]) => call(op.name, args);
    } else if (mode === "preview") {
      const at = op.optionsArg!;
      view[op.name] = (...args: unknown[]) => {
        const given = args[at];
        const forced: MutateOptions = { ...(given && typeof given === "object" ? given : {}), dryRun: true };
        const padded = args.slice();
        padded[at] = forced;
        return call(op.name, padded);
      };
    } else {
      view[op.name] = async () => {
        throw new BelayError(
          "target.read_only",
          `${kind}.${op.name} changes ${kind} '${view.name}' and is not available here: diagnose, verify, wait and when ` +
            "are read-only; move the change into an act step's run (its preview may call it as a dry run)",
        );
      };
    }
  }
  return Object.freeze(view);
}

const cache = new WeakMap<Targets, { read: ReadOnlyTargets; preview: PreviewTargets; full: Targets }>();

/**
 * The targets a step function of `mode` may use. Facades are built once per Targets object;
 * each named target is still the one shared client underneath.
 *
 * @example
 * const ro = targetsFor(deps.targets, "read");
 * await ro.redis("cache").configSet("x", "y"); // throws target.read_only
 */
export function targetsFor(targets: Targets, mode: "read"): ReadOnlyTargets;
export function targetsFor(targets: Targets, mode: "preview" | "full"): Targets;
export function targetsFor(targets: Targets, mode: TargetMode): Targets | ReadOnlyTargets;
export function targetsFor(targets: Targets, mode: TargetMode): Targets | ReadOnlyTargets {
  let views = cache.get(targets);
  if (!views) {
    views = { read: wrap(targets, "read") as ReadOnlyTargets, preview: wrap(targets, "preview") as PreviewTargets, full: wrap(targets, "full") as Targets };
    cache.set(targets, views);
  }
  return views[mode];
}

function wrap(targets: Targets, mode: TargetMode): Record<TargetKind, (name?: string) => object> {
  const out = {} as Record<TargetKind, (name?: string) => object>;
  for (const kind of Object.keys(operations) as TargetKind[]) {
    // The only Prometheus may be asked for without a name.
    const made = new Map<string | undefined, object>();
    out[kind] = (name?: string) => {
      let v = made.get(name);
      if (!v) {
        const get = targets[kind] as (n?: string) => object;
        v = facade(kind, () => get.call(targets, name), mode);
        made.set(name, v);
      }
      return v;
    };
  }
  return out;
}
