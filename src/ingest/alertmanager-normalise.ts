import { z } from "zod";
import { alertSchema, type Alert } from "../sdk/alert.ts";

/*
 * Alertmanager's webhook payload, version "4" (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
 * Pure: takes parsed JSON, returns normalised alerts, one per alert in the group.
 */

const stringMap = z.record(z.string(), z.string());

export const alertmanagerAlertSchema = z.object({
  status: z.enum(["firing", "resolved"]),
  labels: stringMap,
  annotations: stringMap.default({}),
  startsAt: z.string().optional(),
  /** May be the zero time "0001-01-01T00:00:00Z" while firing: key logic on `status`. */
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).optional(),
});

export const alertmanagerWebhookSchema = z.object({
  version: z.literal("4"),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  status: z.enum(["firing", "resolved"]),
  /** Arrives regex-escaped; informational only. */
  receiver: z.string(),
  groupLabels: stringMap.default({}),
  commonLabels: stringMap.default({}),
  commonAnnotations: stringMap.default({}),
  externalURL: z.string().default(""),
  alerts: z.array(alertmanagerAlertSchema),
});

export type AlertmanagerWebhook = z.infer<typeof alertmanagerWebhookSchema>;
export type AlertmanagerAlert = z.infer<typeof alertmanagerAlertSchema>;

/** True when the JSON looks like an Alertmanager webhook (it may still be invalid). */
export function looksLikeAlertmanager(json: unknown): boolean {
  return isRecord(json) && Array.isArray(json.alerts) && ("version" in json || "groupKey" in json || "receiver" in json);
}

/** Every alert of the group, normalised. */
export function normaliseAlertmanager(webhook: AlertmanagerWebhook): Alert[] {
  return webhook.alerts.map((a) => normaliseAlertmanagerAlert(a, webhook));
}

/** Prometheus's generatorURL is `<prometheus>/graph?g0.expr=<PromQL>&g0.tab=1`: the expression, or null. */
function exprOf(generatorURL: string | undefined): string | null {
  if (!generatorURL) return null;
  try {
    const expr = new URL(generatorURL).searchParams.get("g0.expr");
    return expr ? clip(expr, 16_384) : null;
  } catch {
    return null;
  }
}

const ZERO_TIME = /^0001-01-01T00:00:00(\.0+)?Z$/;

export function normaliseAlertmanagerAlert(a: AlertmanagerAlert, webhook: Pick<AlertmanagerWebhook, "groupKey" | "commonLabels">): Alert {
  const labels = { ...webhook.commonLabels, ...a.labels };
  const alertname = labels.alertname ?? "";
  const summary = a.annotations.summary ?? a.annotations.message ?? "";
  const title = alertname && summary ? `${alertname}: ${summary}` : alertname || summary;
  const links = [
    ["generatorURL", a.generatorURL, "source"],
    ["runbook_url", a.annotations.runbook_url, "runbook"],
    ["dashboard_url", a.annotations.dashboard_url, "dashboard"],
  ]
    .filter((l): l is [string, string, string] => typeof l[1] === "string" && l[1].length > 0)
    .map(([, href, text]) => ({ href, text }));
  return alertSchema.parse({
    source: "alertmanager",
    fingerprint: a.fingerprint ?? labelsFingerprint(labels),
    status: a.status,
    title: clip(title, 4096),
    service: labels.service ? clip(labels.service, 512) : null,
    severity: severityOf(labels.severity),
    labels,
    annotations: a.annotations,
    links,
    startsAt: a.startsAt ?? null,
    endsAt: a.endsAt && !ZERO_TIME.test(a.endsAt) ? a.endsAt : null,
    expr: exprOf(a.generatorURL),
    groupKey: webhook.groupKey,
    externalId: a.fingerprint ?? null,
    // belay's own game-day alerts carry belay_drill=<drill run>: never page anyone for them.
    drill: labels.belay_drill !== undefined && labels.belay_drill !== "",
  });
}

/** Maps the free-form `severity` label of rule sets onto belay's four levels. */
export function severityOf(value: string | undefined): Alert["severity"] {
  switch (value?.toLowerCase()) {
    case "critical":
    case "page":
    case "p1":
    case "emergency":
      return "critical";
    case "error":
    case "high":
    case "major":
      return "error";
    case "warning":
    case "warn":
    case "minor":
      return "warning";
    case "info":
    case "informational":
    case "low":
      return "info";
    default:
      return null;
  }
}

/*
 * Prometheus' label-set fingerprint (FNV-1a 64 over sorted name/value pairs, each followed
 * by the 0xff separator), for the rare sender that omits `fingerprint`.
 */
export function labelsFingerprint(labels: Record<string, string>): string {
  const PRIME = 0x100000001b3n;
  const MASK = 0xffffffffffffffffn;
  let h = 0xcbf29ce484222325n;
  const addBytes = (bytes: Uint8Array) => {
    for (const b of bytes) h = ((h ^ BigInt(b)) * PRIME) & MASK;
  };
  const sep = Uint8Array.of(0xff);
  const encoder = new TextEncoder();
  for (const name of Object.keys(labels).sort()) {
    addBytes(encoder.encode(name));
    addBytes(sep);
    addBytes(encoder.encode(labels[name]!));
    addBytes(sep);
  }
  return h.toString(16).padStart(16, "0");
}

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
