import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPostmortem } from "../../src/postmortem/draft.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

for (const kind of ["pg", "pglite"] as const) {
  describe(`alert history (${kind})`, () => {
    let store: TestStore;
    let h: IngestHarness;
    beforeAll(async () => {
      store = await openTestStore(kind, "incidents_history");
      h = await startIngest({ db: store.db, notifier: recordingNotifier().notifier, pagerduty: null, startWorker: true });
    });
    afterAll(async () => {
      await h.close();
      await store.close();
    });
    const q = async <T = Record<string, any>>(sql: string, params: unknown[] = []) => (await store.db.query<T>(sql, params)).rows;

    it("a recurring alert opens a new incident and the old one keeps its alert, postmortem and all", async () => {
      const startsAt = new Date(Date.now() - 55 * 60_000).toISOString();
      const labels = { instance: "history-exporter:9121", job: "redis", severity: "critical" };
      const firing = amAlert({ alertname: "HistoryRedisDown", labels, startsAt, fingerprint: `fp-history-${kind}` });
      const groupKey = '{}:{alertname="HistoryRedisDown"}';
      await h.postAm(amPayload({ groupKey, alerts: [firing] }));
      await h.settle();
      await h.postAm(amPayload({ groupKey, alerts: [{ ...firing, status: "resolved", endsAt: new Date().toISOString() }] }));
      await h.settle();
      const [first] = await q<{ id: string; status: string }>(`SELECT id, status FROM incidents WHERE title = 'HistoryRedisDown' ORDER BY created_at`);
      expect(first!.status).toBe("resolved");

      // The same alert fires again later: a new incident.
      await h.postAm(amPayload({ groupKey, alerts: [{ ...firing, startsAt: new Date().toISOString() }] }));
      await h.settle();
      const incidents = await q<{ id: string; status: string }>(`SELECT id, status FROM incidents WHERE title = 'HistoryRedisDown' ORDER BY created_at`);
      expect(incidents.map((i) => i.status)).toEqual(["resolved", "open"]);

      const old = await buildPostmortem(store.db, first!.id);
      expect(old.alerts).toHaveLength(1);
      expect(old.detection.firstAlertAt).not.toBeNull();
      expect(old.summary).toContain("1 alert;");
      const fresh = await buildPostmortem(store.db, incidents[1]!.id);
      expect(fresh.alerts).toHaveLength(1);
    });

    it("the impact window starts at the alert's startsAt, not when belay received it", async () => {
      const startsAt = new Date(Date.now() - 55 * 60_000).toISOString();
      const a = amAlert({ alertname: "HistoryLateDelivery", labels: { instance: "late:9187", severity: "warning" }, startsAt, fingerprint: `fp-late-${kind}` });
      await h.postAm(amPayload({ groupKey: '{}:{alertname="HistoryLateDelivery"}', alerts: [a] }));
      await h.settle();
      const [inc] = await q<{ id: string }>(`SELECT id FROM incidents WHERE title = 'HistoryLateDelivery'`);
      const pm = await buildPostmortem(store.db, inc!.id);
      expect(pm.impact.start).toBe(startsAt);
      expect(pm.detection.firstAlertAt).toBe(startsAt);
    });
  });
}
