import type { TargetConfig } from "../config.ts";
import { BelayError } from "../errors.ts";
import type { DrillFaults, RedisFaults } from "../sdk/drill.ts";
import { createRedisFaults } from "./faults-redis.ts";
import type { RehearsalWorld } from "./simulation.ts";

/** Fault primitives over the named targets of configuration, plus the rehearsal's simulated world. */
export function createDrillFaults(config: Pick<TargetConfig, "redis">, world: RehearsalWorld): DrillFaults & { close(): Promise<void> } {
  const redis = new Map<string, RedisFaults & { close(): Promise<void> }>();
  return {
    simulation: world,
    redis(name) {
      let f = redis.get(name);
      if (!f) {
        const url = config.redis[name]?.url;
        if (!url) throw new BelayError("config.invalid", `no redis target named '${name}' is configured; add targets.redis.${name}.url to BELAY_CONFIG`);
        f = createRedisFaults(url);
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
