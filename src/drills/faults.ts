import type { TargetConfig } from "../config.ts";
import { BelayError } from "../errors.ts";
import type { DrillFaults, DrillMode, RedisFaults } from "../sdk/drill.ts";
import { createRedisFaults } from "./faults-redis.ts";
import type { RehearsalWorld } from "./simulation.ts";

/** Fault primitives over the named targets of configuration marked `drill: true`, plus the rehearsal's simulated world. */
export function createDrillFaults(config: Pick<TargetConfig, "redis">, world: RehearsalWorld): DrillFaults & { close(): Promise<void> } {
  const redis = new Map<string, RedisFaults & { close(): Promise<void> }>();
  return {
    simulation: world,
    redis(name) {
      let f = redis.get(name);
      if (!f) {
        // `drill` is read loosely: the key belongs to the targets schema, which may not declare it yet.
        const entry = config.redis[name] as { url?: string; drill?: unknown } | undefined;
        if (!entry?.url) throw new BelayError("config.invalid", `no redis target named '${name}' is configured; add targets.redis.${name}.url to BELAY_CONFIG`);
        // A live drill injects real faults: only into a target someone marked for it.
        if (entry.drill !== true) throw new BelayError("config.invalid", `redis target '${name}' is not marked for drills; a live drill injects faults only into targets with drill: true (targets.redis.${name}.drill in BELAY_CONFIG)`);
        f = createRedisFaults(entry.url);
        redis.set(name, f);
      }
      return f;
    },
    async close() {
      await Promise.all([...redis.values()].map((f) => f.close()));
      redis.clear();
      await world.close();
    },
  };
}

/** A rehearsal's faults: the simulation only; real fault primitives throw a coded error. */
export function faultsForMode(faults: DrillFaults, mode: DrillMode): DrillFaults {
  if (mode === "live") return faults;
  return {
    simulation: faults.simulation,
    redis: (name) => {
      throw new BelayError(
        "drill.rehearsal",
        `faults.redis('${name}') injects real faults and a rehearsal changes nothing real (nor asks for approval); use faults.simulation, or make the drill mode: "live" (then its injection is approved as a high-risk step)`,
      );
    },
  };
}

/**
 * Faults for a preview or a capture, which run before (or without) an approval: reads only.
 * A fault primitive that writes throws target.read_only.
 */
export function readOnlyFaults(faults: DrillFaults): DrillFaults {
  const refuse = (name: string, op: string) => async (): Promise<never> => {
    throw new BelayError("target.read_only", `faults.redis('${name}').${op} changes Redis and is not available in a drill's preview or capture (they must be read-only); move it into the injection's run`);
  };
  return {
    simulation: faults.simulation,
    redis: (name) => {
      const r = faults.redis(name);
      return {
        configGet: (p) => r.configGet(p),
        usedMemory: () => r.usedMemory(),
        configSet: refuse(name, "configSet"),
        fillUntilOom: refuse(name, "fillUntilOom"),
        tryWrite: refuse(name, "tryWrite"),
        deleteByPrefix: refuse(name, "deleteByPrefix"),
      };
    },
  };
}
