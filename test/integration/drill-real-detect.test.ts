import { Redis } from "ioredis";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startOwnRedis } from "../helpers/own-redis.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { eventsForIncident } from "../../src/audit/chain.ts";
import { createDrillFaults } from "../../src/drills/faults.ts";
import { drillReportMarkdown } from "../../src/drills/report.ts";
import { runDrill, type DrillDeps } from "../../src/drills/runner.ts";
import { RehearsalWorld } from "../../src/drills/simulation.ts";
import { getDrillRun } from "../../src/drills/store.ts";
import { systemPrincipal } from "../../src/identity/index.ts";
import { Drill } from "../../src/sdk/drill.ts";
import { createTargets } from "../../src/targets/registry.ts";
import redisDrill from "../../playbooks/drills/redis-maxmemory.ts";
import redisPlaybook from "../../playbooks/redis-maxmemory-policy.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

/*
 * `--detect real`: the drill sends no synthetic alert and waits for the team's monitoring.
 * Here "the monitoring" is this test posting what Alertmanager would (an exporter's labels,
 * no drill labels) once the injection is in; and, in the other case, nothing at all.
 * A Redis of this file's own: CONFIG SET never touches the shared 6379.
 */
let own: Awaited<ReturnType<typeof startOwnRedis>>;
let store: TestStore;
let h: IngestHarness;
let raw: Redis;
let targets: ReturnType<typeof createTargets>;
let faults: ReturnType<typeof createDrillFaults>;
let before: { maxmemory: string; policy: string };
const INSTANCE = "cache-exporter.monitoring:9121";
let directory: { redis: Record<string, { url: string; labels?: Record<string, string> }>; postgres: {}; kube: {} };

const config = async () => ({
  maxmemory: ((await raw.config("GET", "maxmemory")) as string[])[1]!,
  policy: ((await raw.config("GET", "maxmemory-policy")) as string[])[1]!,
});

// The published drill, measured up to the proposal (approval and recovery are drill-redis.test.ts's).
const untilProposed = new Drill({ ...redisDrill.meta, expect: { playbook: "redis-maxmemory-policy", proposedWithinS: 30 }, maxDurationS: 60 }, redisDrill.injections, redisDrill.recoveredCheck, redisDrill.abortConditions);

function deps(extra: Partial<DrillDeps> = {}): DrillDeps {
  return {
    db: store.db,
    clock: () => new Date(),
    newId,
    logger: silentLogger,
    targets,
    faults,
    targetDirectory: directory,
    owner: newId("test"),
    leaseMs: 900,
    tickMs: 100,
    // Real detection sends nothing: a call here is a bug.
    sendAlert: async () => {
      throw new Error("a --detect real drill sent a synthetic alert");
    },
    abortRun: async (runId, reason) => void (await h.engine.decide({ kind: "abort", runId, actor: systemPrincipal("drill"), reason })),
    ...extra,
  };
}

/** What Alertmanager sends for the published rule: the exporter's labels, nothing naming belay or a drill. */
function realPayload(status: "firing" | "resolved", startsAt: Date, fingerprint = `real-${Math.random().toString(36).slice(2, 10)}`) {
  const labels = { alertname: "RedisOutOfConfiguredMaxmemory", instance: INSTANCE, job: "redis", severity: "warning" };
  return {
    version: "4",
    groupKey: '{}:{alertname="RedisOutOfConfiguredMaxmemory"}',
    truncatedAlerts: 0,
    status,
    receiver: "belay",
    groupLabels: { alertname: labels.alertname },
    commonLabels: labels,
    commonAnnotations: { summary: `Redis out of configured maxmemory (instance ${INSTANCE})` },
    externalURL: "http://alertmanager.monitoring:9093",
    alerts: [
      {
        status,
        labels,
        annotations: { summary: `Redis out of configured maxmemory (instance ${INSTANCE})`, description: "Redis is running out of configured maxmemory (> 90%)" },
        startsAt: startsAt.toISOString(),
        endsAt: status === "resolved" ? new Date().toISOString() : "0001-01-01T00:00:00Z",
        generatorURL: "http://prometheus.monitoring:9090/graph?g0.expr=redis_memory_used_bytes+%2F+redis_memory_max_bytes+%2A+100+%3E+90&g0.tab=1",
        fingerprint,
      },
    ],
  };
}

beforeAll(async () => {
  own = await startOwnRedis();
  const url = `${own.url}/11`;
  raw = new Redis(url);
  before = await config();
  store = await openTestStore("pg", "drill_real_detect");
  directory = { redis: { cache: { url, labels: { instance: INSTANCE } } }, postgres: {}, kube: {} };
  targets = createTargets(directory);
  faults = createDrillFaults({ redis: { cache: { url, drill: true } } }, new RehearsalWorld());
  h = await startIngest({ db: store.db, playbooks: [redisPlaybook], targets, pagerduty: null, startWorker: true, startEngine: true, extra: { targets: directory, resolveSettleMs: 30_000 } });
});

afterAll(async () => {
  await raw?.config("SET", "maxmemory", before.maxmemory).catch(() => {});
  await raw?.config("SET", "maxmemory-policy", before.policy).catch(() => {});
  await h?.close();
  await faults?.close();
  await targets?.close();
  nock.cleanAll();
  await store?.close();
  await raw?.quit();
  await own?.stop();
});

it("--detect real: no synthetic alert; a real-shaped Alertmanager alert about the target is found by its labels, detection measured from the injection, the playbook proposed for it, undone", async () => {
  let firedAt: Date | null = null;
  const lines: string[] = [];
  const report = await runDrill(
    deps({
      progress: (l) => lines.push(l),
      onPhase: async (phase) => {
        if (phase !== "injected") return;
        // Monitoring takes a moment to notice; a drill-labelled or other-instance alert must not count.
        await new Promise((r) => setTimeout(r, 300));
        const other = realPayload("firing", new Date());
        other.alerts[0]!.labels = { ...other.alerts[0]!.labels, instance: "other-redis:9121" };
        other.commonLabels = other.alerts[0]!.labels;
        expect((await h.postAm(other)).status).toBe(202);
        firedAt = new Date();
        expect((await h.postAm(realPayload("firing", firedAt))).status).toBe(202);
      },
    }),
    untilProposed,
    { startedBy: "alice", detect: { mode: "real", withinS: 20 } },
  );
  const md = drillReportMarkdown(report);
  expect(report.status, md).toBe("passed");
  expect(report.detection).toMatchObject({ mode: "real", fired: true, alertname: "RedisOutOfConfiguredMaxmemory", withinS: 20 });
  expect(report.detection?.mode === "real" && report.detection.startsAt).toBe(firedAt!.toISOString());
  const fired = report.criteria.find((c) => c.name === "alert fired")!;
  expect(fired.ok).toBe(true);
  // Measured, not assumed: at least the 300 ms the "monitoring" took, and well inside the limit.
  expect(fired.measured as number).toBeGreaterThanOrEqual(0.3);
  expect(fired.measured as number).toBeLessThan(20);
  expect(report.scores.detectS).toBe(fired.measured);
  expect(report.proposedPlaybook).toBe("redis-maxmemory-policy");
  expect(report.criteria.find((c) => c.name === "right playbook proposed")?.ok).toBe(true);
  expect(lines.some((l) => l.includes("alert.sent"))).toBe(false);
  expect(md).toContain("real monitoring: RedisOutOfConfiguredMaxmemory fired");
  // The real alert's incident is the drill's: linked from the drill run and marked on the incident's trail.
  expect(report.incidentId).toBeTruthy();
  expect((await getDrillRun(store.db, report.drillRunId))?.incidentId).toBe(report.incidentId);
  const trail = await eventsForIncident(store.db, report.incidentId!);
  expect(trail.find((e) => e.kind === "drill.detected")?.data).toMatchObject({ drillRunId: report.drillRunId, alertname: "RedisOutOfConfiguredMaxmemory" });
  // Undo ran: Redis is back.
  expect(report.undo.every((u) => u.undone)).toBe(true);
  expect(await config()).toEqual(before);
  await h.postAm(realPayload("resolved", firedAt!));
});

it("--detect real: nothing fires -> the 'alert fired' criterion fails, the report says monitoring did not detect it, undo runs", async () => {
  const lines: string[] = [];
  const report = await runDrill(deps({ progress: (l) => lines.push(l) }), untilProposed, { startedBy: "alice", detect: { mode: "real", withinS: 2 } });
  const md = drillReportMarkdown(report);
  expect(report.status, md).toBe("failed");
  expect(report.hypothesisHeld).toBe(false);
  expect(report.reason).toMatch(/monitoring did not detect the fault: no RedisOutOfConfiguredMaxmemory about cache reached \/webhooks\/alertmanager within 2 s/);
  expect(report.criteria).toHaveLength(1);
  expect(report.criteria[0]).toMatchObject({ name: "alert fired", ok: false, measured: null });
  expect(report.scores.detectS).toBeNull();
  expect(report.detection).toMatchObject({ mode: "real", fired: false });
  expect(md).toContain("monitoring did not detect the fault");
  expect(lines.some((l) => l.includes("detect.missed"))).toBe(true);
  expect(report.undo.every((u) => u.undone)).toBe(true);
  expect(await config()).toEqual(before);
});

it("--detect real: the alert recurs and reopens an earlier incident (its stored row is older than the drill): still detected, and the earlier incident's proposal is not taken for the drill's", async () => {
  const fp = "real-recurring";
  // Earlier: the same alert fired, was proposed for, the proposal was aborted, the alert resolved.
  const earlierStart = new Date(Date.now() - 60_000);
  expect((await h.postAm(realPayload("firing", earlierStart, fp))).status).toBe(202);
  const old = await waitForRun(null);
  await h.engine.decide({ kind: "abort", runId: old, actor: systemPrincipal("test"), reason: "earlier incident" });
  expect((await h.postAm(realPayload("resolved", earlierStart, fp))).status).toBe(202);
  await new Promise((r) => setTimeout(r, 300));
  let firedAt: Date | null = null;
  const quick = new Drill({ ...untilProposed.meta, expect: { playbook: "redis-maxmemory-policy", proposedWithinS: 3 } }, untilProposed.injections, untilProposed.recoveredCheck, untilProposed.abortConditions);
  const report = await runDrill(
    deps({
      onPhase: async (phase) => {
        if (phase !== "injected") return;
        await new Promise((r) => setTimeout(r, 200));
        firedAt = new Date();
        expect((await h.postAm(realPayload("firing", firedAt, fp))).status).toBe(202);
      },
    }),
    quick,
    { startedBy: "alice", detect: { mode: "real", withinS: 20 } },
  );
  const md = drillReportMarkdown(report);
  expect(report.detection, md).toMatchObject({ mode: "real", fired: true, fingerprint: fp, startsAt: firedAt!.toISOString() });
  expect(report.criteria.find((c) => c.name === "alert fired")?.ok, md).toBe(true);
  // Whatever belay proposes for the reopened incident, the earlier (aborted) run is not the drill's.
  expect(report.runId).not.toBe(old);
  expect(await config()).toEqual(before);
  await h.postAm(realPayload("resolved", firedAt!, fp));
}, 40_000);

/** The first redis-maxmemory-policy run other than `not` (polls the store). */
async function waitForRun(not: string | null): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const r = await store.db.query<{ id: string }>(`SELECT id FROM runs WHERE playbook_id = 'redis-maxmemory-policy' AND id IS DISTINCT FROM $1 ORDER BY created_at DESC LIMIT 1`, [not]);
    if (r.rows[0]) return r.rows[0].id;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("no redis-maxmemory-policy run proposed");
}
