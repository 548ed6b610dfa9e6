import { z } from "zod";
import type { Alert } from "../sdk/alert.ts";

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
  /** The normalised alert's cap (alertSchema): a longer one is a malformed payload. */
  fingerprint: z.string().min(1).max(512).optional(),
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
  // The alerts of one group usually share their rule's generatorURL: parse each URL once.
  const exprs = new Map<string, string | null>();
  return webhook.alerts.map((a) => normaliseAlertmanagerAlert(a, webhook, exprs));
}

/** Prometheus's generatorURL is `<prometheus>/graph?g0.expr=<PromQL>&g0.tab=1`: the expression, or null. */
function exprOf(generatorURL: string | undefined, cache?: Map<string, string | null>): string | null {
  if (!generatorURL) return null;
  if (cache?.has(generatorURL)) return cache.get(generatorURL)!;
  const expr = parseExpr(generatorURL);
  cache?.set(generatorURL, expr);
  return expr;
}

function parseExpr(generatorURL: string): string | null {
  try {
    const expr = new URL(generatorURL).searchParams.get("g0.expr");
    return expr ? clip(expr, 16_384) : null;
  } catch {
    return null;
  }
}

const ZERO_TIME = /^0001-01-01T00:00:00(\.0+)?Z$/;

/**
 * One alert, normalised. The alert was validated by alertmanagerAlertSchema, whose caps are
 * alertSchema's (fingerprint) or are enforced here (clip): what this builds is an Alert as
 * alertSchema would parse it, field for field and in its order, without parsing it again
 * (that second parse was a quarter of the ack path's CPU).
 */
export function normaliseAlertmanagerAlert(
  a: AlertmanagerAlert,
  webhook: Pick<AlertmanagerWebhook, "groupKey" | "commonLabels">,
  exprs?: Map<string, string | null>,
): Alert {
  const labels = { ...webhook.commonLabels, ...a.labels };
  const alertname = labels.alertname ?? "";
  const summary = a.annotations.summary ?? a.annotations.message ?? "";
  const title = alertname && summary ? `${alertname}: ${summary}` : alertname || summary;
  const links: Alert["links"] = [];
  if (a.generatorURL) links.push({ href: a.generatorURL, text: "source" });
  if (a.annotations.runbook_url) links.push({ href: a.annotations.runbook_url, text: "runbook" });
  if (a.annotations.dashboard_url) links.push({ href: a.annotations.dashboard_url, text: "dashboard" });
  return {
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
    expr: exprOf(a.generatorURL, exprs),
    groupKey: webhook.groupKey,
    externalId: a.fingerprint ?? null,
    // belay's own game-day alerts carry belay_drill=<drill run>: never page anyone for them.
    drill: labels.belay_drill !== undefined && labels.belay_drill !== "",
  };
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
