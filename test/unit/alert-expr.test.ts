import { expect, it } from "vitest";
import { normaliseAlertmanagerAlert } from "../../src/ingest/alertmanager-normalise.ts";

// Prometheus links every alert to the expression that fired: generatorURL ends in /graph?g0.expr=<PromQL>&g0.tab=1.
const webhook = { groupKey: "{}:{alertname=\"RedisOutOfConfiguredMaxmemory\"}", commonLabels: {} };
const alert = (generatorURL?: string) =>
  normaliseAlertmanagerAlert({ status: "firing", labels: { alertname: "RedisOutOfConfiguredMaxmemory" }, annotations: {}, ...(generatorURL !== undefined ? { generatorURL } : {}) }, webhook);

it("the alert carries the PromQL expression of its generatorURL", () => {
  const url = "http://prometheus:9090/graph?g0.expr=redis_memory_used_bytes+%2F+redis_memory_max_bytes+%2A+100+%3E+90&g0.tab=1";
  expect(alert(url).expr).toBe("redis_memory_used_bytes / redis_memory_max_bytes * 100 > 90");
});

it("no expression without a Prometheus generatorURL", () => {
  expect(alert().expr).toBeNull();
  expect(alert("").expr).toBeNull();
  expect(alert("not a url").expr).toBeNull();
  expect(alert("https://grafana.example.com/d/abc").expr).toBeNull();
});
