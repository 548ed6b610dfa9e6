import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/execute/deps.ts";
import { AuditFollower } from "../../src/console/follow.ts";
import { LiveHub } from "../../src/console/live.ts";

const noDb = { query: async () => ({ rows: [], rowCount: 0 }) } as never;

describe("AuditFollower", () => {
  it("remembers nothing of the events this process commits while no page watches (a belay nobody watches does not grow)", () => {
    const follower = new AuditFollower(noDb, new LiveHub(), { logger: silentLogger });
    const events = Array.from({ length: 1000 }, (_, i) => ({ seq: i + 1, kind: "step.verified", runId: "r", incidentId: null }));
    expect(follower.claim(events)).toEqual([]);
    expect((follower as unknown as { seen: Set<number> }).seen.size).toBe(0);
  });
});
