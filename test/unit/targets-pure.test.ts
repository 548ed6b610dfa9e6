import { describe, expect, it } from "vitest";
import { parseQuantity } from "../../src/targets/kube-config.ts";
import { diffObjects } from "../../src/targets/kube-diff.ts";
import { planUndo, rolloutStatus } from "../../src/targets/kube-rules.ts";
import { operations } from "../../src/targets/operations.ts";
import { buildLockTree, splitTableName } from "../../src/targets/postgres-sql.ts";
import { clientMatches, literalPrefix, parseClientList, parseConfigReply, parseInfo } from "../../src/targets/redis-parse.ts";
import { deployment, replicaSet } from "../fixtures/kube/objects.ts";

describe("redis parsing", () => {
  it("parses INFO sections and RESP2/RESP3 CONFIG GET replies", () => {
    const info = parseInfo("# Memory\r\nused_memory:1024\r\nmaxmemory_policy:noeviction\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n");
    expect(info).toEqual({ memory: { used_memory: "1024", maxmemory_policy: "noeviction" }, keyspace: { db0: "keys=3,expires=0,avg_ttl=0" } });
    expect(parseConfigReply(["maxmemory", "0"]).get("maxmemory")).toBe("0");
    expect(parseConfigReply({ maxmemory: "0" }).get("maxmemory")).toBe("0");
    expect(parseConfigReply(new Map([["maxmemory", "0"]])).get("maxmemory")).toBe("0");
  });

  it("parses CLIENT LIST lines, including IPv6 addresses", () => {
    const [c] = parseClientList("id=9 addr=[::1]:51234 laddr=[::1]:6379 fd=9 name=worker age=120 idle=115 flags=N db=2 cmd=get user=app\n");
    expect(c).toMatchObject({ id: "9", ip: "[::1]", name: "worker", ageSec: 120, idleSec: 115, db: 2, cmd: "get", user: "app" });
    expect(clientMatches(c!, { idleAtLeastSec: 100, user: "app" })).toBe(true);
    expect(clientMatches(c!, { idleAtLeastSec: 200 })).toBe(false);
  });

  it("finds a pattern's literal prefix", () => {
    expect(literalPrefix("residence_ids:*")).toBe("residence_ids:");
    expect(literalPrefix("a?b")).toBe("a");
    expect(literalPrefix("[ab]x")).toBe("");
  });
});

describe("kube rules", () => {
  it("parses quantities", () => {
    expect(parseQuantity("512Mi")).toBe(512 * 2 ** 20);
    expect(parseQuantity("1G")).toBe(1e9);
    expect(parseQuantity("1.5Gi")).toBe(1.5 * 2 ** 30);
    expect(parseQuantity("100m")).toBe(0.1);
    expect(parseQuantity("12XB")).toBeNull();
  });

  it("diffs by container name, not index", () => {
    const a = { spec: { containers: [{ name: "a", image: "x:1" }, { name: "b", image: "y:1" }] }, metadata: { resourceVersion: "1" } };
    const b = { spec: { containers: [{ name: "b", image: "y:2" }, { name: "a", image: "x:1" }] }, metadata: { resourceVersion: "2" } };
    expect(diffObjects(a, b)).toBe("~ spec.containers[b].image: y:1 -> y:2");
    expect(diffObjects(a, a)).toBe("(no change)");
  });

  it("skips an undo whose target template already matches, and refuses a paused deployment", () => {
    const d = deployment({ image: "img:2" });
    const same = replicaSet(2, "img:2", "h2", "2025-01-01T00:00:00Z");
    const cur = replicaSet(3, "img:2", "h3", "2025-01-02T00:00:00Z");
    expect(planUndo(d as never, [same, cur] as never)).toMatchObject({ kind: "skip", toRevision: 2, reason: "skipped rollback (current template already matches revision 2)" });
    expect(() => planUndo({ ...d, spec: { ...d.spec, paused: true } } as never, [same, cur] as never)).toThrow(/paused deployment/);
    expect(() => planUndo(d as never, [same, cur] as never, 7)).toThrow("unable to find specified revision 7 in history");
  });

  it("treats a missing status as not yet observed", () => {
    expect(rolloutStatus({ metadata: { name: "x", generation: 1 } } as never).done).toBe(false);
  });
});

describe("postgres shaping", () => {
  const b = (pid: number, blockedBy: number[]) => ({ pid, blockedBy, user: "u", database: "d", application: "", clientAddr: null, state: "active", waitEvent: null, xactAgeSec: 1, queryAgeSec: 1, stateAgeSec: 1, query: "" });
  it("builds a lock tree with transitive counts and roots", () => {
    const tree = buildLockTree([b(1, []), b(2, [1]), b(3, [2]), b(4, []), b(5, [1])]);
    expect(tree.roots).toEqual([1]);
    expect(tree.nodes.map((n) => [n.pid, n.blockingTotal])).toEqual([[1, 3], [2, 1], [3, 0], [5, 0]]);
  });
  it("splits schema-qualified names", () => {
    expect(splitTableName("events")).toEqual({ schema: "public", table: "events" });
    expect(splitTableName("audit.events")).toEqual({ schema: "audit", table: "events" });
  });
});

describe("operations table", () => {
  it("declares mutation and permission for every operation", () => {
    expect(operations.redis.filter((o) => o.mutates).map((o) => o.name)).toEqual(["configSet", "deleteKeys", "clientKill"]);
    expect(operations.postgres.filter((o) => o.mutates).map((o) => o.name)).toEqual(["cancelBackends", "terminateBackends", "vacuumFreeze"]);
    expect(operations.kube.find((o) => o.name === "drain")).toMatchObject({ mutates: true, permission: "core/pods/eviction:create" });
    for (const ops of Object.values(operations)) for (const o of ops) expect(o.permission).toMatch(/\S/);
  });
});
