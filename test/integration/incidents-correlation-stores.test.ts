import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetConfig } from "../../src/config.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

/*
 * Two Redis targets configured, as in most shops (a cache and a session store). The published
 * RedisMissingMaster aggregates every scraped Redis (`count(redis_instance_info{role="master"})`),
 * so it carries no instance label and names no target: it is about Redis, but which one the
 * alert cannot say. When exactly one incident about a Redis target is open and fresh (RedisDown
 * for cache, a moment earlier), it is that outage; when several are, it cannot tell and opens
 * one of its own.
 */
const config: TargetConfig = {
  redis: {
    cache: { url: "redis://127.0.0.1:1", labels: { instance: "127.0.0.1:9121" } },
    sessions: { url: "redis://127.0.0.1:1", labels: { instance: "sessions-exporter.monitoring:9121" } },
  },
  postgres: {},
  kube: {},
  prometheus: {},
};

const SETTLE_MS = 3_000;
let store: TestStore;
let h: IngestHarness;
const q = async <T = Record<string, any>>(sql: string, params: unknown[] = []) => (await store.db.query<T>(sql, params)).rows;

beforeAll(async () => {
  store = await openTestStore("pg", "incidents_correlation_stores");
  h = await startIngest({ db: store.db, playbooks: [], notifier: recordingNotifier().notifier, pagerduty: null, startWorker: true, extra: { targets: config, resolveSettleMs: SETTLE_MS } });
});
afterAll(async () => {
  await h.close();
  await store.close();
});

const group = (alertname: string, alerts: ReturnType<typeof amAlert>[], by = "") => amPayload({ groupKey: `{}:{alertname="${alertname}"${by}}`, groupLabels: { alertname }, alerts });
// Each test's alerts are their own Alertmanager groups (`t`), so no test joins an earlier one's incident by groupKey.
const down = (instance: string, tag: string) =>
  group("RedisDown", [amAlert({ alertname: "RedisDown", labels: { instance, job: "redis", severity: "critical" }, fingerprint: `down-${tag}`, annotations: { summary: `Redis down (instance ${instance})` } })], `,instance="${instance}",t="${tag}"`);
const missingMaster = (tag: string) =>
  group("RedisMissingMaster", [amAlert({ alertname: "RedisMissingMaster", labels: { severity: "critical" }, fingerprint: `missing-${tag}`, annotations: { summary: "Redis missing master (instance )" } })], `,t="${tag}"`);
const incidentsOf = async (fingerprints: string[]) =>
  (await q<{ incident_id: string }>(`SELECT DISTINCT incident_id FROM incident_alerts WHERE fingerprint = ANY($1::text[])`, [fingerprints])).map((r) => r.incident_id);
/** Waits for the incident to resolve (not for its settle job, which runs SETTLE_MS later). */
async function resolved(id: string | undefined): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if ((await q<{ status: string }>(`SELECT status FROM incidents WHERE id = $1`, [id]))[0]?.status === "resolved") return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`incident ${id} did not resolve`);
}
/** Earlier tests' incidents are no longer fresh: each test starts with none to join. */
const staleAll = () => store.db.query(`UPDATE incidents SET last_alert_at = now() - interval '1 hour' WHERE status = 'open'`);

describe("an alert about a data store but no target (RedisMissingMaster), two Redis targets configured", () => {
  it("joins the one open incident about a Redis target (RedisDown for cache)", async () => {
    await staleAll();
    await h.postAm(down("127.0.0.1:9121", "a"));
    await h.settle();
    await h.postAm(missingMaster("a"));
    await h.settle();
    expect(await incidentsOf(["down-a", "missing-a"])).toHaveLength(1);
  });

  it("joins it when both arrive in one batch", async () => {
    await staleAll();
    await h.postAm(down("127.0.0.1:9121", "b"));
    await h.postAm(missingMaster("b"));
    await h.settle();
    expect(await incidentsOf(["down-b", "missing-b"])).toHaveLength(1);
  });

  it("joins the incident RedisDown reopened (about cache, resolved moments ago)", async () => {
    await staleAll();
    await h.postAm(down("127.0.0.1:9121", "c"));
    await h.settle();
    const [first] = await incidentsOf(["down-c"]);
    await h.postAm(group("RedisDown", [amAlert({ alertname: "RedisDown", labels: { instance: "127.0.0.1:9121", job: "redis", severity: "critical" }, fingerprint: "down-c", status: "resolved" })], `,instance="127.0.0.1:9121",t="c"`));
    await resolved(first);
    await h.postAm(down("127.0.0.1:9121", "c2"));
    await h.postAm(missingMaster("c"));
    await h.settle();
    expect(await incidentsOf(["down-c2", "missing-c"])).toEqual([first]);
  });

  it("reopens the incident about cache that resolved moments ago (RedisDown's resolution drained first)", async () => {
    await staleAll();
    await h.postAm(down("127.0.0.1:9121", "e"));
    await h.settle();
    const [first] = await incidentsOf(["down-e"]);
    await h.postAm(group("RedisDown", [amAlert({ alertname: "RedisDown", labels: { instance: "127.0.0.1:9121", job: "redis", severity: "critical" }, fingerprint: "down-e", status: "resolved" })], `,instance="127.0.0.1:9121",t="e"`));
    await resolved(first);
    await h.postAm(missingMaster("e"));
    await h.settle();
    expect(await incidentsOf(["missing-e"])).toEqual([first]);
    expect((await q<{ status: string }>(`SELECT status FROM incidents WHERE id = $1`, [first]))[0]!.status).toBe("open");
  });

  it("the other order (both fire in one evaluation; their deliveries race): RedisDown for cache joins the incident RedisMissingMaster opened", async () => {
    await staleAll();
    await h.postAm(missingMaster("f"));
    await h.settle();
    await h.postAm(down("127.0.0.1:9121", "f"));
    await h.settle();
    expect(await incidentsOf(["down-f", "missing-f"])).toHaveLength(1);
    // Now about cache: RedisDown for the other Redis is another outage.
    await h.postAm(down("sessions-exporter.monitoring:9121", "f2"));
    await h.settle();
    const [mm] = await incidentsOf(["missing-f"]);
    expect(await incidentsOf(["down-f2"])).not.toContain(mm);
  });

  it("opens one of its own when incidents about two Redis targets are open: it cannot tell which", async () => {
    await staleAll();
    await h.postAm(down("127.0.0.1:9121", "d1"));
    await h.postAm(down("sessions-exporter.monitoring:9121", "d2"));
    await h.settle();
    await h.postAm(missingMaster("d"));
    await h.settle();
    const downs = await incidentsOf(["down-d1", "down-d2"]);
    expect(downs).toHaveLength(2);
    const [mm] = await incidentsOf(["missing-d"]);
    expect(downs).not.toContain(mm);
  });
});
