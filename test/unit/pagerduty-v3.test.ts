import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { catalog } from "../../src/catalog/index.ts";
import { matchCommand } from "../../src/cli/match.ts";
import { parseAlertFile } from "../../src/ingest/parse-file.ts";
import { readPagerDutyDelivery } from "../../src/ingest/pagerduty-webhook.ts";
import { effectiveAlertname } from "../../src/match/alert-text.ts";
import { compileClassifier } from "../../src/match/classify.ts";
import { createMatcher } from "../../src/match/index.ts";
import { alertSchema } from "../../src/sdk/alert.ts";

const DIR = fileURLToPath(new URL("../fixtures/webhooks/pagerduty-v3/", import.meta.url));
const FILES = readdirSync(DIR).filter((f) => f.endsWith(".json")).sort();
const load = (f: string) => JSON.parse(readFileSync(join(DIR, f), "utf8")) as { event: { event_type: string; data: { type: string } } };
const matcher = createMatcher([], catalog);

describe("belay match on every PagerDuty v3 event type", () => {
  it("has a fixture for every documented event type and the ping", () => {
    expect(FILES.map((f) => f.replace(/\.json$/, ""))).toEqual(
      [
        "incident.acknowledged", "incident.annotated", "incident.delegated", "incident.escalated", "incident.priority_updated", "incident.reassigned",
        "incident.reopened", "incident.resolved", "incident.responder.added", "incident.responder.replied", "incident.status_update_published",
        "incident.triggered", "incident.unacknowledged", "pagey.ping", "service.created", "service.deleted", "service.updated",
      ].sort(),
    );
  });

  it.each(FILES)("%s: zero or more alerts, never an error (an alert for incident data, none otherwise)", (file) => {
    const json = load(file);
    const alerts = parseAlertFile(json, file);
    expect(alerts).toHaveLength(json.event.data.type === "incident" ? 1 : 0);
    for (const a of alerts) expect(a.fingerprint).toBe("pagerduty:PGR0VU2");
    // The webhook route reads the same deliveries without refusing them either.
    expect(readPagerDutyDelivery(json).ok).toBe(true);
  });

  it("belay match --json answers a service event with no alerts and exit 0", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await matchCommand({ alert: join(DIR, "service.updated.json"), json: true }, { out: (s) => out.push(s), err: (s) => err.push(s), readStdin: async () => "", loadPlaybooks: async () => [] });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({ alerts: [] });
  });

  it("belay match in text mode says a delivery holds no alerts, and why, instead of printing nothing", async () => {
    const out: string[] = [];
    const code = await matchCommand({ alert: join(DIR, "service.updated.json") }, { out: (s) => out.push(s), err: () => {}, readStdin: async () => "", loadPlaybooks: async () => [] });
    expect(code).toBe(0);
    expect(out.join("\n")).toMatch(/no alerts in .*service\.updated\.json/);
  });
});

const pd = (title: string) => alertSchema.parse({ source: "pagerduty", fingerprint: "pagerduty:P1", status: "firing", title, labels: {}, annotations: {} });

describe("titles made by Alertmanager's default template", () => {
  const known = compileClassifier(catalog).knowsAlertname;
  it.each([
    ["[FIRING:1] KubePodCrashLooping shop (api-7d9c6b5f4-x2x9q warning)", "KubePodCrashLooping"],
    // group_by with a label sorting before alertname: the name is not the first value
    ["[FIRING:1] prod KubePodCrashLooping shop (api-7d9c6b5f4-x2x9q warning)", "KubePodCrashLooping"],
    // not grouped by alertname: it is among the common labels in parentheses
    ["[FIRING:3] shop (CNPGClusterHAWarning pg-main warning)", "CNPGClusterHAWarning"],
    ["[RESOLVED] RedisOutOfConfiguredMaxmemory cache (cache-exporter:9121 redis warning)", "RedisOutOfConfiguredMaxmemory"],
    // an alert name belay does not know is still the name, not the first label value
    ["[FIRING:2] prod CheckoutQueueBacklog (shop critical)", "CheckoutQueueBacklog"],
  ])("%s names %s", (title, name) => {
    expect(effectiveAlertname(pd(title), known)).toBe(name);
  });

  it("recognises the failure mode from the name inside", () => {
    expect(matcher.match(pd("[FIRING:1] prod KubePodCrashLooping shop (api-7d9c6b5f4-x2x9q warning)")).failureMode).toBe("pod-crashloop");
    expect(matcher.match(pd("[FIRING:3] shop (CNPGClusterHAWarning pg-main warning)")).failureMode).toBe("postgres-replication-lag");
  });
});

describe("CloudNativePG and pgmonitor rule names", () => {
  it.each([
    ["CNPGClusterOffline", "postgres-down"],
    ["PGIsUp", "postgres-down"],
    ["PGNoPrimary", "postgres-down"],
    ["CNPGClusterHighConnectionsWarning", "postgres-connections-exhausted"],
    ["PGConnPerc", "postgres-connections-exhausted"],
    ["PGIdleTxn", "postgres-connections-exhausted"],
    ["PostgreSQLMaxConnectionsReached", "postgres-connections-exhausted"],
    ["CNPGClusterHAWarning", "postgres-replication-lag"],
    ["CNPGClusterHACritical", "postgres-replication-lag"],
    ["CNPGClusterHighReplicationLag", "postgres-replication-lag"],
    ["CNPGClusterPhysicalReplicationLagWarning", "postgres-replication-lag"],
    ["PGReplicationByteLag", "postgres-replication-lag"],
    ["PGXIDWraparound", "xid-wraparound"],
    ["PGEmergencyVacuum", "autovacuum-stalled"],
    ["PGQueryTime", "slow-query"],
    ["CNPGClusterLowDiskSpaceWarning", "pv-filling"],
    ["PGExporterScrapeError", "metrics-pipeline-down"],
  ])("%s is %s", (alertname, mode) => {
    const r = matcher.match(alertSchema.parse({ source: "alertmanager", fingerprint: `f-${alertname}`, status: "firing", title: alertname, labels: { alertname }, annotations: {} }));
    expect(r.failureMode).toBe(mode);
  });
});
