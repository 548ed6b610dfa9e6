import { describe, expect, it } from "vitest";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { RehearsalWorld } from "../../src/drills/simulation.ts";

describe("live drill faults", () => {
  it("are injected only into targets marked drill: true", async () => {
    const marked = { url: "redis://127.0.0.1:6379/15", drill: true };
    const faults = createDrillFaults({ redis: { prod: { url: "redis://127.0.0.1:6379/14" }, staging: marked } }, new RehearsalWorld());
    try {
      expect(() => faults.redis("prod")).toThrow("redis target 'prod' is not marked for drills; a live drill injects faults only into targets with drill: true (targets.redis.prod.drill in BELAY_CONFIG)");
      expect(() => faults.redis("nope")).toThrow("no redis target named 'nope' is configured");
      expect(faults.redis("staging")).toBeTruthy();
    } finally {
      await faults.close();
    }
  });
});
