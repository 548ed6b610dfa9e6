import { describe, expect, it } from "vitest";
import { normaliseAlertmanagerAlert } from "../../src/ingest/alertmanager-normalise.ts";

const alert = (labels: Record<string, string>) => ({
  status: "firing" as const,
  labels: { alertname: "RedisOutOfConfiguredMaxmemory", ...labels },
  annotations: { summary: "DRILL drl_1: Redis is out of configured maxmemory" },
  startsAt: "2026-11-22T03:00:00Z",
  endsAt: "0001-01-01T00:00:00Z",
  generatorURL: "",
  fingerprint: "f1",
});

describe("drill alerts from Alertmanager", () => {
  it("are marked as drills when belay's drill label is on them, and only then", () => {
    const webhook = { groupKey: "{}:{}", commonLabels: {} };
    expect(normaliseAlertmanagerAlert(alert({ belay_drill: "drl_1" }) as never, webhook).drill).toBe(true);
    expect(normaliseAlertmanagerAlert(alert({}) as never, webhook).drill).toBe(false);
    expect(normaliseAlertmanagerAlert(alert({ belay_drill: "" }) as never, webhook).drill).toBe(false);
    // A group label counts too (Alertmanager puts shared labels in commonLabels).
    expect(normaliseAlertmanagerAlert(alert({}) as never, { groupKey: "{}:{}", commonLabels: { belay_drill: "drl_2" } }).drill).toBe(true);
  });
});
