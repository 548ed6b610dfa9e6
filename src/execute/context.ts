import { BelayError } from "../errors.ts";
import type { PreviewValue, StepContext, StepLogger, VerifyValue } from "../sdk/types.ts";
import type { Targets } from "../targets/types.ts";
import { targetsFor, type TargetMode } from "../targets/facade.ts";
import { withStepSignal } from "../targets/step-signal.ts";
import type { Logger } from "./deps.ts";

/** Thrown when a preview reads an output that does not exist yet: its inputs are not known. */
export class NotYetKnown extends Error {
  constructor(readonly output: string) {
    super(`output ${output} is not known yet`);
  }
}

/** Outputs that throw NotYetKnown for any step that has not finished. */
export function knownOutputs(outputs: Record<string, unknown>, finished: ReadonlySet<string>): Record<string, unknown> {
  return new Proxy(outputs, {
    get(target, prop) {
      if (typeof prop === "string" && !finished.has(prop) && !(prop in Object.prototype)) throw new NotYetKnown(prop);
      return Reflect.get(target, prop);
    },
  });
}

export function stepLogger(logger: Logger, bindings: Record<string, unknown>): StepLogger {
  return {
    info: (msg, data) => logger.info({ ...bindings, ...data }, msg),
    warn: (msg, data) => logger.warn({ ...bindings, ...data }, msg),
  };
}

export interface ContextInput {
  params: Record<string, unknown>;
  outputs: Record<string, unknown>;
  targets: Targets;
  log: StepLogger;
  run: StepContext<unknown, unknown>["run"];
}

/**
 * Runs fn with a fresh AbortSignal and a deadline. At the deadline the signal aborts and the
 * call rejects with `step.timeout`, whether or not fn listens to the signal. When `parent`
 * aborts first (the run's lease was lost), the signal aborts and the call rejects with the
 * parent's reason at once.
 */
export async function withTimeout<T>(what: string, ms: number, fn: (signal: AbortSignal) => Promise<T> | T, parent?: AbortSignal): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onParent: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new BelayError("step.timeout", `${what} timed out after ${ms} ms`);
      ac.abort(err);
      reject(err);
    }, ms);
    if (parent) {
      onParent = () => {
        ac.abort(parent.reason);
        reject(parent.reason);
      };
      if (parent.aborted) onParent();
      else parent.addEventListener("abort", onParent, { once: true });
    }
  });
  try {
    // Targets read the step's signal from here too (their methods take none): see step-signal.ts.
    return await Promise.race([Promise.resolve().then(() => withStepSignal(ac.signal, () => fn(ac.signal))), deadline]);
  } finally {
    clearTimeout(timer);
    if (parent && onParent) parent.removeEventListener("abort", onParent);
  }
}

/**
 * The context of one step function. `mode` decides which targets it gets: `read` (diagnose,
 * verify, wait: no mutating operations), `preview` (mutations forced to a dry run) or `full`
 * (run and rollback only).
 */
export function makeContext(input: ContextInput, signal: AbortSignal, mode: TargetMode): StepContext<any, any, any> {
  return { params: input.params, outputs: input.outputs, targets: targetsFor(input.targets, mode), log: input.log, signal, run: input.run };
}

export interface NormalisedPreview {
  text: string;
  data: unknown;
}

export function normalisePreview(value: PreviewValue | { summary: string; diff?: string; data?: unknown }): NormalisedPreview {
  if (typeof value === "string") return { text: value, data: null };
  if (Array.isArray(value)) return { text: value.join("\n"), data: null };
  const v = value as { summary: string; diff?: string; data?: unknown };
  return { text: v.diff ? `${v.summary}\n${v.diff}` : v.summary, data: v.data ?? null };
}

export function normaliseVerify(value: VerifyValue): { ok: boolean; detail: string | null } {
  if (typeof value === "boolean") return { ok: value, detail: null };
  return { ok: Boolean(value.ok), detail: value.detail ?? null };
}

/** Outputs are stored as JSON; round-tripping now means a resumed run sees exactly what a fresh one did. */
export function jsonRoundTrip(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value));
}
