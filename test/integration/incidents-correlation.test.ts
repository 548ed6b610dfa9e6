import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetConfig } from "../../src/config.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { playbook, target, z } from "../../src/sdk/index.ts";
import { createTargets } from "../../src/targets/registry.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

/*
 * Alerts after the published awesome-prometheus-alerts Redis rules (rules/redis/oliver006-redis-exporter.yml),
 * as Alertmanager groups them by alertname: each rule is its own group, so only correlation by
 * target makes one incident of one outage. The library's diagnose steps read the machine's Redis.
 */
const config: TargetConfig = { redis: { cache: { url: "redis://127.0.0.1:6379", labels: { instance: "127.0.0.1:9121" } } }, postgres: {}, kube: {}, prometheus: {} };
const SETTLE_MS = 1_500;

/*
 * Stands in for redis-kill-idle-clients, which (rightly) asks nobody when the machine's Redis has
 * no client idle past its threshold: this one always waits for approval, so the test can watch a
 * waiting proposal survive its alerts resolving.
 */
const connFix = playbook({
  id: "test-conn-fix",
  title: "Close connections (test)",
  summary: "Waits for approval; changes nothing.",
  failureModes: ["redis-connections"],
  match: [{ alertname: /^Redis(TooManyConnections|RejectedConnections)$/ }],
  params: z.object({ redis: target("redis") }),
})
  .diagnose("clients", ({ params, targets }) => targets.redis(params.redis).clientsInfo())
  .act("close", {
    risk: "medium",
    permissions: ["redis:CLIENT"],
    preview: () => "close the idle clients",
    run: () => ({ closed: 0 }),
    verify: () => true,
    irreversible: "test step",
  });

let store: TestStore;
let h: IngestHarness;
let rec: ReturnType<typeof recordingNotifier>;
let targets: ReturnType<typeof createTargets>;
const q = async <T = Record<string, any>>(sql: string, params: unknown[] = []) => (await store.db.query<T>(sql, params)).rows;

beforeAll(async () => {
  store = await openTestStore("pg", "incidents_correlation");
  rec = recordingNotifier();
  targets = createTargets(config);
  const library = await loadPlaybooks("playbooks");
  h = await startIngest({
    db: store.db,
    playbooks: [...[...library.values()].filter((p) => p.id !== "redis-kill-idle-clients"), connFix],
    targets,
    notifier: rec.notifier,
    pagerduty: null,
    startWorker: true,
    extra: { targets: config, resolveSettleMs: SETTLE_MS },
  });
});
afterAll(async () => {
  await h.close();
  await targets.close();
  await store.close();
});

const group = (alertname: string, alerts: ReturnType<typeof amAlert>[], by = "") => amPayload({ groupKey: `{}:{alertname="${alertname}"${by}}`, groupLabels: { alertname }, alerts });
const incidentsOf = async (alertnames: string[]) =>
  (await q<{ incident_id: string }>(`SELECT DISTINCT incident_id FROM incident_alerts WHERE alert->'labels'->>'alertname' = ANY($1::text[])`, [alertnames])).map((r) => r.incident_id);

describe("correlation by target", () => {
  it("RedisDown and RedisMissingMaster (aggregated: no instance label) are one incident", async () => {
    await h.postAm(group("RedisDown", [amAlert({ alertname: "RedisDown", labels: { instance: "127.0.0.1:9121", job: "redis", severity: "critical" }, annotations: { summary: "Redis down (instance 127.0.0.1:9121)" } })]));
    await h.settle();
    await h.postAm(group("RedisMissingMaster", [amAlert({ alertname: "RedisMissingMaster", labels: { severity: "critical" }, annotations: { summary: "Redis missing master (instance )" } })]));
    await h.settle();
    expect(await incidentsOf(["RedisDown", "RedisMissingMaster"])).toHaveLength(1);
  });

  it("an instance with no target configured: its alerts are one incident, another instance's are not", async () => {
    const a = (alertname: string, instance: string) => amAlert({ alertname, labels: { instance, job: "node", severity: "warning" }, fingerprint: `${alertname}-${instance}` });
    await h.postAm(group("HostHighCpuLoad", [a("HostHighCpuLoad", "10.1.1.1:9100")]));
    await h.settle();
    // Grouped by (alertname, instance), as many Alertmanagers are configured.
    await h.postAm(group("HostMemoryUnderMemoryPressure", [a("HostMemoryUnderMemoryPressure", "10.1.1.1:9100")], ',instance="10.1.1.1:9100"'));
    await h.postAm(group("HostMemoryUnderMemoryPressure", [a("HostMemoryUnderMemoryPressure", "10.1.1.2:9100")], ',instance="10.1.1.2:9100"'));
    await h.settle();
    const rows = await q<{ incident_id: string; instance: string }>(
      `SELECT incident_id, alert->'labels'->>'instance' AS instance FROM incident_alerts WHERE alert->'labels'->>'job' = 'node'`,
    );
    const byInstance = (i: string) => new Set(rows.filter((r) => r.instance === i).map((r) => r.incident_id));
    expect(byInstance("10.1.1.1:9100").size).toBe(1);
    expect([...byInstance("10.1.1.2:9100")][0]).not.toBe([...byInstance("10.1.1.1:9100")][0]);
  });

  it("RejectedConnections and TooManyConnections: one incident, one proposal; it survives TooManyConnections resolving when the exporter loses its connection", async () => {
    const labels = { instance: "127.0.0.1:9121", job: "redis", severity: "warning", shard: "conn" };
    const BY = ',shard="conn"';
    const rejected = amAlert({ alertname: "RedisRejectedConnections", labels: { ...labels, severity: "critical" }, annotations: { summary: "Redis rejected connections (instance 127.0.0.1:9121)", description: "Some connections to Redis has been rejected" } });
    const tooMany = amAlert({ alertname: "RedisTooManyConnections", labels, annotations: { summary: "Redis too many connections (instance 127.0.0.1:9121)", description: "Redis instance has too many connections" } });
    // The earlier test's incident about cache is still open: close it so this one starts fresh.
    await store.db.query(`UPDATE incidents SET last_alert_at = now() - interval '1 hour' WHERE status = 'open'`);
    await h.postAm(group("RedisTooManyConnections", [tooMany], BY));
    await h.settle();
    await h.postAm(group("RedisRejectedConnections", [rejected], BY));
    await h.settle();
    const ids = await incidentsOf(["RedisRejectedConnections", "RedisTooManyConnections"]);
    expect(ids).toHaveLength(1);
    const runs = await q<{ id: string; playbook_id: string; status: string }>(`SELECT id, playbook_id, status FROM runs WHERE incident_id = $1`, [ids[0]]);
    expect(runs.map((r) => r.playbook_id)).toEqual(["test-conn-fix"]);

    // At the limit the exporter cannot connect: both series vanish and resolve; redis_up == 0 fires RedisDown a moment later.
    const gone = (a: ReturnType<typeof amAlert>) => ({ ...a, status: "resolved" as const, endsAt: new Date().toISOString() });
    await h.postAm(group("RedisTooManyConnections", [gone(tooMany)], BY));
    await h.postAm(group("RedisRejectedConnections", [gone(rejected)], BY));
    await new Promise((r) => setTimeout(r, 300));
    await h.postAm(group("RedisDown", [amAlert({ alertname: "RedisDown", labels: { instance: "127.0.0.1:9121", job: "redis", severity: "critical" }, fingerprint: "redis-down-conn", annotations: { summary: "Redis down (instance 127.0.0.1:9121)" } })], BY));
    await h.settle(SETTLE_MS * 4);
    const [inc] = await q<{ status: string }>(`SELECT status FROM incidents WHERE id = $1`, [ids[0]]);
    expect(inc!.status).toBe("open");
    const [run] = await q<{ status: string }>(`SELECT status FROM runs WHERE id = $1`, [runs[0]!.id]);
    expect(run!.status).toBe("awaiting_approval");
    expect(await incidentsOf(["RedisDown"])).toContain(ids[0]);
    expect(h.events.filter((e) => e.kind === "run.aborted" && e.runId === runs[0]!.id)).toHaveLength(0);
  });
});
