import { describe, expect, it } from "vitest";
import { parseFileConfig } from "../../src/config.ts";
import { labelMatches, resolveTargets, targetParams } from "../../src/plan/targets.ts";
import { alertSchema, playbook, target, z } from "../../src/sdk/index.ts";

const killIdle = playbook({
  id: "t-kill-idle",
  title: "t",
  summary: "t",
  failureModes: ["redis-connections"],
  params: z.object({ redis: target("redis"), idleSeconds: z.number().default(300) }),
});

// The real-stack suite's shape: exporter alerts carry instance/job, never `redis: cache`.
const CONFIG = parseFileConfig(
  `targets:
  redis:
    cache: { url: "redis://127.0.0.1:6380", labels: { instance: "127.0.0.1:9121" } }
    sessions: { url: "redis://127.0.0.1:6381", labels: { instance: "/sessions-[0-9]+\\\\.redis:9121/" } }
  postgres:
    main: { url: "postgres://belay@127.0.0.1:5433/app", labels: { instance: "127.0.0.1:9187" } }
`,
  "test.yaml",
).targets;

const alert = (labels: Record<string, string>) => alertSchema.parse({ source: "alertmanager", fingerprint: "f", status: "firing", title: "RedisTooManyConnections", labels });

describe("target params resolved from the alert", () => {
  it("finds the params marked with target()", () => {
    expect([...targetParams(killIdle.params)]).toEqual([["redis", { kind: "redis", label: "redis" }]]);
  });

  it("a label naming the target wins", () => {
    const r = resolveTargets(killIdle, alert({ redis: "sessions", instance: "127.0.0.1:9121" }), CONFIG, {});
    expect(r.params.redis).toBe("sessions");
    expect(r.resolutions[0]).toMatchObject({ how: "label", name: "sessions" });
  });

  it("then the labels: matchers (exact and /regex/, anchored)", () => {
    const exact = resolveTargets(killIdle, alert({ alertname: "RedisTooManyConnections", instance: "127.0.0.1:9121", job: "redis" }), CONFIG, {});
    expect(exact.params.redis).toBe("cache");
    expect(exact.resolutions[0]!.how).toBe("matcher");
    expect(exact.resolutions[0]!.detail).toContain("instance=127.0.0.1:9121");
    expect(resolveTargets(killIdle, alert({ instance: "sessions-2.redis:9121" }), CONFIG, {}).params.redis).toBe("sessions");
    expect(labelMatches("/sessions-[0-9]+/", "xsessions-2")).toBe(false);
  });

  it("two targets matching is an error shown to the human, not a guess", () => {
    const dir = { redis: { a: { labels: { job: "redis" } }, b: { labels: { job: "redis" } } } };
    const r = resolveTargets(killIdle, alert({ job: "redis" }), dir, {});
    expect(r.params.redis).toBeUndefined();
    expect(r.issues).toEqual([{ field: "redis", message: expect.stringContaining("matches the labels of 2 redis targets (a, b)") }]);
    expect(r.resolutions[0]!.how).toBe("asked");
  });

  it("then the only configured target of the kind", () => {
    const r = resolveTargets(killIdle, alert({ instance: "elsewhere:9121" }), { redis: { cache: {} } }, {});
    expect(r.resolutions[0]).toMatchObject({ how: "only", name: "cache" });
  });

  it("unresolved: asks, saying why (which labels it saw, which targets exist)", () => {
    const r = resolveTargets(killIdle, alert({ instance: "10.0.0.9:9121", job: "redis" }), CONFIG, {});
    expect(r.issues[0]!.field).toBe("redis");
    expect(r.issues[0]!.message).toContain("instance=10.0.0.9:9121");
    expect(r.issues[0]!.message).toContain("configured: cache, sessions");
    const none = resolveTargets(killIdle, alert({}), {}, {});
    expect(none.issues[0]!.message).toContain("no redis target is configured");
    // A label naming an unknown target is not silently replaced by the only one.
    expect(resolveTargets(killIdle, alert({ redis: "typo" }), { redis: { cache: {} } }, {}).issues[0]!.message).toContain("redis=typo names no configured redis target");
  });

  it("a param given by a human is kept", () => {
    expect(resolveTargets(killIdle, alert({ instance: "127.0.0.1:9121" }), CONFIG, { redis: "sessions" }).resolutions[0]!.how).toBe("given");
  });

  it("config refuses a matcher that is not a valid /regex/", () => {
    expect(() => parseFileConfig(`targets: { redis: { cache: { url: "redis://x", labels: { instance: "/([/" } } } }`, "bad.yaml")).toThrow(/targets.redis.cache.labels.instance: is not a valid \/regex\//);
  });
});
