import type { Logger } from "../execute/deps.ts";
import type { Queryable } from "../store/driver.ts";
import type { TargetHolder } from "../targets/registry.ts";
import { openIncidentTargets } from "./queries.ts";

export interface StandingDeps {
  db: Queryable;
  holder: TargetHolder;
  logger: Logger;
  /** How often the set is looked at again and the connections kept alive (default 15 s). */
  intervalMs?: number;
  /**
   * The configured Redis and Postgres targets: each is held from start, not only once an
   * incident about it opens (a connection storm can take the last slot before any alert fires).
   */
  configured?: { redis?: Record<string, unknown>; postgres?: Record<string, unknown> };
}

/**
 * Keeps a connection to every configured Redis and Postgres target from start, and to every
 * one an open incident is about. At a connection limit (maxclients, max_connections) the
 * target refuses new sessions, the exporter's and belay's included; belay's standing one
 * keeps working, so kill-idle and terminate playbooks can still run. A target that cannot be
 * reached is tried again every interval; its failure is logged once, not every time.
 */
export function standingConnections(deps: StandingDeps): { sync(): Promise<void>; start(): void; stop(): Promise<void>; held(): string[] } {
  const held = new Set<string>();
  // The last failure of each target not held, so a target that stays down is logged once.
  const failing = new Map<string, string>();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;

  async function once(): Promise<void> {
    const wanted = new Map<string, { kind: "redis" | "postgres"; name: string }>();
    for (const kind of ["redis", "postgres"] as const) for (const name of Object.keys(deps.configured?.[kind] ?? {})) wanted.set(`${kind}/${name}`, { kind, name });
    let known = true;
    try {
      for (const t of await openIncidentTargets(deps.db)) {
        if (t.kind === "redis" || t.kind === "postgres") wanted.set(`${t.kind}/${t.name}`, { kind: t.kind, name: t.name });
      }
    } catch (err) {
      // The store is unreachable: the configured targets are still held, and nothing held is let go.
      known = false;
      deps.logger.warn({ err }, "standing connections: could not read open incidents");
    }
    // In parallel: one target that takes its connect timeout does not hold up the others.
    await Promise.all(
      [...wanted].map(async ([key, t]) => {
        try {
          await deps.holder.hold(t.kind, t.name);
          if (!held.has(key)) deps.logger.info({ target: key }, `keeping a standing connection to ${t.kind} ${t.name}`);
          held.add(key);
          failing.delete(key);
        } catch (err) {
          const message = (err as Error).message;
          if (failing.get(key) !== message) deps.logger.warn({ err, target: key }, `could not hold a connection to ${t.kind} ${t.name} (tried again every ${(deps.intervalMs ?? 15_000) / 1000} s): ${message}`);
          failing.set(key, message);
        }
      }),
    );
    if (!known) return;
    for (const key of [...held]) {
      if (wanted.has(key)) continue;
      failing.delete(key);
      const [kind, ...name] = key.split("/");
      held.delete(key);
      await deps.holder.release(kind as "redis" | "postgres", name.join("/")).catch((err) => deps.logger.warn({ err, target: key }, "releasing a standing connection failed"));
    }
  }

  /** Looks at open incidents now (after a drain opened or resolved some); calls during a pass run one more pass after it. */
  function sync(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await once();
        } while (again);
      } catch (err) {
        deps.logger.warn({ err }, "standing connections: could not read open incidents");
      } finally {
        running = null;
      }
    })();
    return running;
  }

  return {
    sync,
    start() {
      timer ??= setInterval(() => void sync(), deps.intervalMs ?? 15_000);
      timer.unref();
      void sync();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
      for (const key of [...held]) {
        const [kind, ...name] = key.split("/");
        await deps.holder.release(kind as "redis" | "postgres", name.join("/")).catch(() => {});
      }
      held.clear();
    },
    held: () => [...held].sort(),
  };
}
