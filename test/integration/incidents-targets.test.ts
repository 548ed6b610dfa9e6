import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetConfig } from "../../src/config.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { createTargets } from "../../src/targets/registry.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

/*
 * Real exporter alerts carry instance/job, not `redis: <name>`. The library's playbooks run
 * their diagnose steps against the machine's Redis (read-only: INFO, CLIENT LIST).
 */
const REDIS = "redis://127.0.0.1:6379";
const config: TargetConfig = {
  prometheus: {},
  redis: {
    sessions: { url: REDIS, labels: { instance: "127.0.0.1:9121" } },
    cache: { url: REDIS, labels: { instance: "/cache-[0-9]+:9121/" } },
    // Nothing listens there: a proposal for it fails at its first step.
    dead: { url: "redis://127.0.0.1:1", labels: { instance: "10.7.7.7:9121" } },
  },
  postgres: {},
  kube: {},
};

let store: TestStore;
let h: IngestHarness;
let rec: ReturnType<typeof recordingNotifier>;
let targets: ReturnType<typeof createTargets>;
const q = async <T = Record<string, any>>(sql: string, params: unknown[] = []) => (await store.db.query<T>(sql, params)).rows;

beforeAll(async () => {
  store = await openTestStore("pg", "incidents_targets");
  rec = recordingNotifier();
  targets = createTargets(config);
  const library = await loadPlaybooks("playbooks");
  h = await startIngest({ db: store.db, playbooks: [...library.values()], targets, notifier: rec.notifier, pagerduty: null, startWorker: true, extra: { targets: config } });
});
afterAll(async () => {
  await h.close();
  await targets.close();
  await store.close();
});

const tooMany = (instance: string, extra: Record<string, string> = {}) =>
  amAlert({
    alertname: "RedisTooManyConnections",
    labels: { instance, job: "redis", severity: "warning", ...extra },
    annotations: { summary: `Redis too many connections (instance ${instance})`, description: "Redis instance has too many connections\n  VALUE = 9812" },
  });

describe("targets found from the alert", () => {
  it("an exporter alert (instance, job) proposes for the target whose labels: match, and says how", async () => {
    await h.postAm(amPayload({ groupKey: '{}:{alertname="RedisTooManyConnections",instance="127.0.0.1:9121"}', alerts: [tooMany("127.0.0.1:9121")] }));
    await h.settle();
    const triaged = h.events.filter((e) => e.kind === "incident.triaged").at(-1)!;
    expect(triaged.data.playbook).toBe("redis-kill-idle-clients");
    expect(triaged.runId).not.toBeNull();
    const [run] = await q<{ params: Record<string, unknown> }>(`SELECT params FROM runs WHERE id = $1`, [triaged.runId]);
    expect(run!.params.redis).toBe("sessions");
    expect(triaged.data.targets).toEqual([expect.objectContaining({ param: "redis", kind: "redis", name: "sessions", how: "matcher" })]);
    const report = rec.triage.at(-1)!;
    expect(report.targets?.[0]).toMatchObject({ name: "sessions", how: "matcher" });
  });

  it("unresolved: asks for the target (the form) instead of failing; a labelled alert joining re-triages it", async () => {
    const groupKey = '{}:{alertname="RedisTooManyConnections",instance="10.9.9.9:9121"}';
    await h.postAm(amPayload({ groupKey, alerts: [tooMany("10.9.9.9:9121")] }));
    await h.settle();
    const first = rec.triage.at(-1)!;
    const incidentId = first.incident.id;
    expect(first.runId).toBeNull();
    expect(first.ask).toMatchObject({ playbook: "redis-kill-idle-clients", issues: [{ field: "redis", message: expect.stringContaining("configured: cache, dead, sessions") }] });
    expect(first.reasons.join("\n")).toContain("needs redis");
    expect(await q(`SELECT id FROM runs WHERE incident_id = $1`, [incidentId])).toHaveLength(0);

    // The same group gains an alert that names its target: belay triages again and proposes.
    await h.postAm(amPayload({ groupKey, alerts: [tooMany("10.9.9.9:9121"), tooMany("10.9.9.9:9121", { redis: "cache", shard: "b" })] }));
    await h.settle();
    const runs = await q<{ params: Record<string, unknown> }>(`SELECT params FROM runs WHERE incident_id = $1`, [incidentId]);
    expect(runs.map((r) => r.params.redis)).toEqual(["cache"]);
    expect(h.events.some((e) => e.kind === "incident.retriage_requested" && e.incidentId === incidentId)).toBe(true);
  });

  it("a failed proposal does not silence the incident: an alert joining it triages it again, and the failure names its cause", async () => {
    const groupKey = '{}:{alertname="RedisTooManyConnections",instance="10.7.7.7:9121"}';
    await h.postAm(amPayload({ groupKey, alerts: [tooMany("10.7.7.7:9121")] }));
    await h.settle();
    const incidentId = rec.triage.at(-1)!.incident.id;
    const first = await q<{ id: string; status: string; params: Record<string, unknown> }>(`SELECT id, status, params FROM runs WHERE incident_id = $1`, [incidentId]);
    expect(first).toEqual([expect.objectContaining({ status: "failed", params: expect.objectContaining({ redis: "dead" }) })]);
    const [step] = await q<{ error: string }>(`SELECT error FROM steps WHERE run_id = $1 AND error IS NOT NULL`, [first[0]!.id]);
    expect(step!.error).toContain("ECONNREFUSED 127.0.0.1:1");

    await h.postAm(amPayload({ groupKey, alerts: [tooMany("10.7.7.7:9121"), tooMany("10.7.7.7:9121", { shard: "c" })] }));
    await h.settle();
    expect(h.events.some((e) => e.kind === "incident.retriage_requested" && e.incidentId === incidentId)).toBe(true);
    expect(await q(`SELECT id FROM runs WHERE incident_id = $1`, [incidentId])).toHaveLength(2);
  });
});
