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
}

/**
 * Keeps a connection to every Redis and Postgres target an open incident is about, from the
 * moment the incident is correlated to the target until it resolves. At a connection limit
 * (maxclients, max_connections) the target refuses new sessions, the exporter's included;
 * belay's standing one keeps working, so kill-idle and terminate playbooks can still run.
 */
export function standingConnections(deps: StandingDeps): { sync(): Promise<void>; start(): void; stop(): Promise<void>; held(): string[] } {
  const held = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;

  async function once(): Promise<void> {
    const wanted = new Map<string, { kind: "redis" | "postgres"; name: string }>();
    for (const t of await openIncidentTargets(deps.db)) {
      if (t.kind === "redis" || t.kind === "postgres") wanted.set(`${t.kind}/${t.name}`, { kind: t.kind, name: t.name });
    }
    for (const [key, t] of wanted) {
      try {
        await deps.holder.hold(t.kind, t.name);
        if (!held.has(key)) deps.logger.info({ target: key }, `keeping a standing connection to ${t.kind} ${t.name} while its incident is open`);
        held.add(key);
      } catch (err) {
        deps.logger.warn({ err, target: key }, `could not hold a connection to ${t.kind} ${t.name}: ${(err as Error).message}`);
      }
    }
    for (const key of [...held]) {
      if (wanted.has(key)) continue;
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
