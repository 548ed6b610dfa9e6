import { expect, it } from "vitest";
import { parseFileConfig } from "../../src/config.ts";
import { alertExpressionNow } from "../../src/sdk/prometheus.ts";
import { createTargets } from "../../src/targets/registry.ts";

const none = { redis: {}, postgres: {}, kube: {} };

it("targets.prometheus.<name>.url is read from BELAY_CONFIG and must be a URL", () => {
  const ok = parseFileConfig("targets:\n  prometheus:\n    metrics: { url: http://prometheus:9090 }\n", "belay.yaml");
  expect(ok.targets.prometheus).toEqual({ metrics: { url: "http://prometheus:9090" } });
  expect(parseFileConfig("{}", "belay.yaml").targets.prometheus).toEqual({});
  expect(() => parseFileConfig("targets:\n  prometheus:\n    metrics: { url: prometheus }\n", "belay.yaml")).toThrow(/targets\.prometheus\.metrics\.url: must be the server's base URL/);
});

it("without a name, the only configured Prometheus; none or several is an error naming the fix", async () => {
  expect(createTargets({ ...none, prometheus: { metrics: { url: "http://127.0.0.1:1" } } }).prometheus().name).toBe("metrics");
  expect(() => createTargets(none).prometheus()).toThrow("no prometheus target is configured; add targets.prometheus.<name>.url to BELAY_CONFIG");
  const two = createTargets({ ...none, prometheus: { a: { url: "http://a:9090" }, b: { url: "http://b:9090" } } });
  expect(() => two.prometheus()).toThrow("several prometheus targets are configured (a, b); name the one to read");
  expect(two.prometheus("b").name).toBe("b");
  expect(() => two.prometheus("c")).toThrow("no prometheus target named 'c' is configured; add targets.prometheus.c.url to BELAY_CONFIG (configured: a, b)");
});

it("alertExpressionNow never throws: no expression, no Prometheus, or an unreachable one are said in the detail", async () => {
  expect(await alertExpressionNow(createTargets(none), undefined)).toEqual({ holds: null, detail: "" });
  expect(await alertExpressionNow(createTargets(none), "up == 0")).toEqual({ holds: null, detail: "the alert's expression was not read: no prometheus target is configured; add targets.prometheus.<name>.url to BELAY_CONFIG" });
});
