import { expect, it } from "vitest";
import { detectModeOf } from "../../src/cli/drill.ts";
import { UsageError } from "../../src/cli/io.ts";
import { DEFAULT_DETECT_WITHIN_S, realAlertMatcher } from "../../src/drills/detect.ts";
import { drillStartedReply } from "../../src/drills/slack.ts";
import { parseCommand } from "../../src/slack/command.ts";
import redisDrill from "../../playbooks/drills/redis-maxmemory.ts";

it("--detect: synthetic by default, real with a default or given limit; bad values are usage errors that say what to type", () => {
  expect(detectModeOf(undefined, undefined)).toEqual({ mode: "synthetic" });
  expect(detectModeOf("synthetic", undefined)).toEqual({ mode: "synthetic" });
  expect(detectModeOf("real", undefined)).toEqual({ mode: "real", withinS: DEFAULT_DETECT_WITHIN_S });
  expect(detectModeOf("real", "45")).toEqual({ mode: "real", withinS: 45 });
  expect(() => detectModeOf("prometheus", undefined)).toThrow(UsageError);
  expect(() => detectModeOf("prometheus", undefined)).toThrow(/"synthetic" \(default\) or "real"/);
  expect(() => detectModeOf("real", "soon")).toThrow(/--detect-within takes seconds/);
  expect(() => detectModeOf("real", "0")).toThrow(UsageError);
  expect(() => detectModeOf(undefined, "30")).toThrow(/goes with --detect real/);
});

it("a real alert is the drill target's by a label naming it or by the target's labels: matchers; another instance never", () => {
  const dir = { redis: { cache: { labels: { instance: "/cache-exporter\\..*:9121/" } }, sessions: { labels: { instance: "sessions:9121" } } } };
  const m = realAlertMatcher(dir, "redis", "cache");
  expect(m.matches({ alertname: "X", instance: "cache-exporter.monitoring:9121" })).toBe(true);
  expect(m.matches({ alertname: "X", redis: "cache" })).toBe(true);
  expect(m.matches({ alertname: "X", instance: "sessions:9121" })).toBe(false);
  expect(m.matches({ alertname: "X" })).toBe(false);
  expect(m.how).toContain("targets.redis.cache.labels");
  // No matchers and other targets of the kind: only the naming label identifies it.
  const bare = realAlertMatcher({ redis: { cache: {}, sessions: {} } }, "redis", "cache");
  expect(bare.matches({ instance: "anything:9121" })).toBe(false);
  expect(bare.matches({ redis: "cache" })).toBe(true);
  // The only target of its kind, no matchers: any alert of the expected name is about it.
  expect(realAlertMatcher({ redis: { cache: {} } }, "redis", "cache").matches({ instance: "x:9121" })).toBe(true);
});

it("Slack: `drill start ID real [SECONDS]` starts a real-detection drill; anything else after the id is a usage message", () => {
  expect(parseCommand("drill start redis-maxmemory")).toEqual({ kind: "drill", action: "start", drill: "redis-maxmemory" });
  expect(parseCommand("drill start redis-maxmemory real")).toEqual({ kind: "drill", action: "start", drill: "redis-maxmemory", detectWithinS: DEFAULT_DETECT_WITHIN_S });
  expect(parseCommand("drill start redis-maxmemory real 45")).toEqual({ kind: "drill", action: "start", drill: "redis-maxmemory", detectWithinS: 45 });
  for (const bad of ["drill start redis-maxmemory fake", "drill start redis-maxmemory real soon", "drill start redis-maxmemory real 0", "drill start redis-maxmemory real 45 extra"]) {
    const c = parseCommand(bad);
    expect(c.kind, bad).toBe("usage");
    expect((c as { message: string }).message).toContain("`drill start <drill> real [seconds]`");
  }
  expect(JSON.stringify(drillStartedReply(redisDrill, "drl_1", "UCAROL", 45).blocks)).toContain("No DRILL alert is sent: your monitoring has 45 s");
  expect(JSON.stringify(drillStartedReply(redisDrill, "drl_1", "UCAROL").blocks)).toContain("The DRILL alert and its proposal follow");
});
