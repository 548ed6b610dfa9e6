import { describe, expect, it } from "vitest";
import { newId } from "../../src/ids.ts";
import { readAlertmanagerDelivery } from "../../src/ingest/alertmanager-webhook.ts";
import { alertmanagerWebhookSchema, normaliseAlertmanager } from "../../src/ingest/alertmanager-normalise.ts";
import { alertSchema } from "../../src/sdk/alert.ts";

const alert = (over: Record<string, unknown> = {}) => ({
  status: "firing",
  labels: { alertname: "KubePodCrashLooping", namespace: "shop", pod: "api-1", severity: "Critical", service: "s".repeat(600) },
  annotations: { summary: "crash looping", runbook_url: "https://runbooks/x", dashboard_url: "" },
  startsAt: "2026-12-01T10:00:00Z",
  endsAt: "0001-01-01T00:00:00Z",
  generatorURL: "http://prometheus:9090/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=1",
  fingerprint: "abc123",
  ...over,
});
const webhook = (alerts: unknown[]) => ({
  version: "4",
  groupKey: '{}:{alertname="KubePodCrashLooping"}',
  status: "firing",
  receiver: "belay",
  commonLabels: { alertname: "KubePodCrashLooping", team: "core" },
  alerts,
});

describe("the Alertmanager hot path", () => {
  it("builds exactly what alertSchema would parse, field for field and in its order", () => {
    const w = alertmanagerWebhookSchema.parse(
      webhook([
        alert(),
        alert({ fingerprint: undefined, status: "resolved", endsAt: "2026-12-01T11:00:00Z", generatorURL: "not a url" }),
        alert({ labels: { belay_drill: "drl_1" }, annotations: {}, generatorURL: undefined, startsAt: undefined }),
        alert({ annotations: { message: "m".repeat(5000) } }),
      ]),
    );
    const alerts = normaliseAlertmanager(w);
    for (const a of alerts) expect(JSON.stringify(a)).toBe(JSON.stringify(alertSchema.parse(a)));
    expect(alerts[0]!.expr).toBe("rate(x[5m]) > 1");
    expect(alerts[0]!.links).toEqual([
      { href: "http://prometheus:9090/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=1", text: "source" },
      { href: "https://runbooks/x", text: "runbook" },
    ]);
  });

  it("refuses a fingerprint longer than the normalised alert's cap with a 400 reason naming it", () => {
    const r = readAlertmanagerDelivery(webhook([alert({ fingerprint: "f".repeat(513) })]));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/fingerprint/);
  });

  it("draws ids from its random pool without repeats across refills", () => {
    const ids = Array.from({ length: 2_000 }, () => newId("dlv"));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^dlv_[0-9a-hjkmnp-tv-z]{12}$/);
  });
});
