import { describe, expect, it } from "vitest";
import { drillTargetName } from "../../src/cli/drill-target.ts";

const stores = { redis: { cache: { url: "redis://:s3cret@Cache.internal:6379", drill: true }, queue: { url: "redis://queue.internal:6380/2" } }, postgres: {} };

describe("drill run --target NAME|URL", () => {
  it("a name passes as given; a URL names the configured target with that address (port and db defaults, credentials and case ignored)", () => {
    expect(drillTargetName("redis", "cache", stores)).toBe("cache");
    expect(drillTargetName("redis", "redis://cache.internal", stores)).toBe("cache");
    expect(drillTargetName("redis", "redis://cache.internal:6379/0", stores)).toBe("cache");
    expect(drillTargetName("redis", "redis://queue.internal:6380/2", stores)).toBe("queue");
    expect(drillTargetName("http", "http://127.0.0.1:8080/health", stores)).toBe("http://127.0.0.1:8080/health");
  });
  it("refuses a URL no target has, without echoing its password", () => {
    expect(() => drillTargetName("redis", "redis://:hunter2@other:6379", stores)).toThrow(/no redis target in BELAY_CONFIG has this URL/);
    try {
      drillTargetName("redis", "redis://:hunter2@other:6379", stores);
    } catch (err) {
      expect((err as Error).message).not.toContain("hunter2");
    }
    expect(() => drillTargetName("redis", "redis://queue.internal:6380/3", stores)).toThrow(/no redis target/);
  });
});
