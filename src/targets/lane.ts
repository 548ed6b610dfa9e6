/**
 * One task at a time, in the order asked, for a resource that must not be shared (the standing
 * Postgres session: a cancel aimed at its pid hits whatever query it is running, so only one
 * step's query may be running on it). A task whose signal aborts while it waits is dropped
 * (its promise rejects with the abort's reason at once) and never starts; a running task
 * handles its own abort.
 */
export interface Lane {
  run<T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T>;
}

export function createLane(): Lane {
  const waiting: (() => void)[] = [];
  let busy = false;

  const next = () => {
    const start = waiting.shift();
    if (start) start();
    else busy = false;
  };

  return {
    run<T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<T>((resolve, reject) => {
        const start = () => {
          signal?.removeEventListener("abort", drop);
          busy = true;
          (async () => task())().then(resolve, reject).finally(next); // a task that throws at once still frees the lane
        };
        const drop = () => {
          const at = waiting.indexOf(start);
          if (at >= 0) waiting.splice(at, 1);
          reject(signal!.reason);
        };
        if (!busy) return start();
        signal?.addEventListener("abort", drop, { once: true });
        waiting.push(start);
      });
    },
  };
}
