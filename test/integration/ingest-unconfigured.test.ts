import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { pdIncidentEvent } from "../fixtures/webhooks/pagerduty.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";

// A webhook route belay was not configured for answers 503 (the sender retries once it is
// set up) and names the variable to set, instead of the server's 404 "no route".
let store: TestStore;
let h: IngestHarness;

beforeAll(async () => {
  store = await openTestStore("pg", "ingest_unconfigured");
  h = await startIngest({ db: store.db, extra: { pagerdutySecrets: [], alertmanagerToken: null } });
});
afterAll(async () => {
  await h.close();
  await store.close();
});

describe("webhook routes that are not configured", () => {
  it("PagerDuty without PAGERDUTY_WEBHOOK_SECRET: 503 naming the variable, with Retry-After", async () => {
    const res = await fetch(`${h.url}/webhooks/pagerduty`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pdIncidentEvent("incident.triggered", "PNOCONF")) });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    const body = (await res.json()) as { error: string };
    expect(body.error).toContain("PAGERDUTY_WEBHOOK_SECRET");
    const [row] = (await store.db.query(`SELECT count(*)::int AS n FROM ingest_deliveries`)).rows as { n: number }[];
    expect(row!.n).toBe(0);
  });

  it("Alertmanager without ALERTMANAGER_TOKEN: 503 naming the variable, with Retry-After", async () => {
    const res = await fetch(`${h.url}/webhooks/alertmanager`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(amPayload({ alerts: [amAlert({ alertname: "RedisDown" })] })) });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(((await res.json()) as { error: string }).error).toContain("ALERTMANAGER_TOKEN");
  });
});
