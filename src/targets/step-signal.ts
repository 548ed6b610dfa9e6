import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The AbortSignal of the step whose code is running, for target methods whose signatures
 * take none: the runner runs every step function inside `withStepSignal`, and a target's
 * loops (Redis SCAN, Kubernetes waits) and queries (Postgres) stop when it aborts (the step
 * timed out, or the run's lease was lost). An explicit `opts.signal` still wins.
 */
const current = new AsyncLocalStorage<AbortSignal>();

export function withStepSignal<T>(signal: AbortSignal, fn: () => T): T {
  return current.run(signal, fn);
}

export function stepSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Throws the abort reason when the running step's signal has aborted. */
export function throwIfStepAborted(signal: AbortSignal | undefined = stepSignal()): void {
  signal?.throwIfAborted();
}
