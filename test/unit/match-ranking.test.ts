import { beforeAll, describe, expect, it } from "vitest";
import { catalog } from "../../src/catalog/index.ts";
import { createMatcher, proposable } from "../../src/match/index.ts";
import type { Matcher } from "../../src/match/types.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { alertSchema } from "../../src/sdk/alert.ts";

/*
 * Alert shapes from the published awesome-prometheus-alerts PostgreSQL rules
 * (rules/postgresql/postgres-exporter.yml), as a Prometheus evaluating them sends them:
 * aggregating expressions keep only their `by` labels plus the rule's own (severity).
 *   PostgresqlTooManyConnections:  sum by (instance, job, server) (pg_stat_activity_count) > min by (instance, job, server) (pg_settings_max_connections * 0.8)
 *   PostgresqlNotEnoughConnections: sum by (datname) (pg_stat_activity_count{datname!~"template.*|postgres"}) < 5
 */
const fire = (alertname: string, labels: Record<string, string>, annotations: Record<string, string>) =>
  alertSchema.parse({ source: "alertmanager", fingerprint: `fp-${alertname}`, status: "firing", title: alertname, labels: { alertname, ...labels }, annotations });

const tooMany = fire(
  "PostgresqlTooManyConnections",
  { instance: "127.0.0.1:9187", job: "postgres", server: "127.0.0.1:5432", severity: "warning" },
  {
    summary: "Postgresql too many connections (instance 127.0.0.1:9187)",
    description: "PostgreSQL instance has too many connections (> 80%).\n  VALUE = 19\n  LABELS = map[instance:127.0.0.1:9187 job:postgres server:127.0.0.1:5432]",
  },
);
const notEnough = fire(
  "PostgresqlNotEnoughConnections",
  { datname: "orders", severity: "critical" },
  { summary: "Postgresql not enough connections (instance )", description: "PostgreSQL instance should have more connections (> 5)\n  VALUE = 1\n  LABELS = map[datname:orders]" },
);

let matcher: Matcher;
beforeAll(async () => {
  matcher = createMatcher([...(await loadPlaybooks("playbooks")).values()], catalog);
});

describe("ranking on real Postgres alerts", () => {
  it("a Redis playbook never ranks for a Postgres alert, even on the words 'too many connections'", () => {
    const r = matcher.match(tooMany);
    expect(r.failureMode).toBe("postgres-connections-exhausted");
    expect(r.candidates[0]?.playbook).toBe("postgres-terminate-idle-in-transaction");
    expect(r.candidates.map((c) => c.playbook).filter((p) => p.startsWith("redis-"))).toEqual([]);
    // The same words with only postgres labels to go on.
    const bare = fire("TooManyConnections", { job: "postgres", instance: "db-0:9187" }, { summary: "too many connections" });
    expect(matcher.match(bare).candidates.map((c) => c.playbook).filter((p) => p.startsWith("redis-"))).toEqual([]);
    // And a Redis alert still gets it.
    const redis = fire("RedisTooManyConnections", { instance: "127.0.0.1:9121", job: "redis", severity: "warning" }, { summary: "Redis too many connections (instance 127.0.0.1:9121)" });
    expect(matcher.match(redis).candidates[0]?.playbook).toBe("redis-kill-idle-clients");
  });

  it("PostgresqlNotEnoughConnections is postgres-low-connections, and db-pooler-failover, which it cannot fill, is not proposed", () => {
    const r = matcher.match(notEnough);
    expect(r.failureMode).toBe("postgres-low-connections");
    // It fits the failure mode, but the alert carries none of what it needs: named, never the proposal.
    const pooler = r.candidates.find((c) => c.playbook === "db-pooler-failover");
    expect(pooler?.missing).toEqual(["namespace", "configMap", "poolerHost", "directHost", "deployments"]);
    expect(proposable(r)?.playbook).not.toBe("db-pooler-failover");
  });

  it("postgres-terminate-idle-in-transaction does not match PostgresqlNotEnoughConnections (too few connections is the opposite problem)", () => {
    expect(matcher.match(notEnough).candidates.map((c) => c.playbook)).not.toContain("postgres-terminate-idle-in-transaction");
  });
});
