import { z } from "zod";
import type { Alert } from "../sdk/alert.ts";
import { alertmanagerWebhookSchema, normaliseAlertmanager } from "./alertmanager-normalise.ts";
import { describeIssues, type Parsed } from "./pagerduty-webhook.ts";

export interface AlertmanagerDelivery {
  /** `alertmanager.firing` or `alertmanager.resolved`: the group's status. */
  eventType: string;
  alerts: Alert[];
  meta: { groupKey: string; receiver: string; status: string; truncatedAlerts: number; externalURL: string };
}

/**
 * Reads an authenticated Alertmanager webhook: every alert in the group, firing and
 * resolved, keyed on each alert's `status` (its `endsAt` may be the zero time).
 */
export function readAlertmanagerDelivery(json: unknown): Parsed<AlertmanagerDelivery> {
  const parsed = alertmanagerWebhookSchema.safeParse(json);
  if (!parsed.success) return { ok: false, error: describeIssues("Alertmanager webhook", parsed.error.issues) };
  const w = parsed.data;
  let alerts: Alert[];
  try {
    alerts = normaliseAlertmanager(w);
  } catch (err) {
    // The shared schema caps lengths (fingerprint, service): past them the payload is malformed.
    const issues = err instanceof z.ZodError ? err.issues : [{ path: [], message: (err as Error).message }];
    return { ok: false, error: describeIssues("Alertmanager alert", issues as z.core.$ZodIssue[]) };
  }
  return {
    ok: true,
    value: {
      eventType: `alertmanager.${w.status}`,
      alerts,
      meta: { groupKey: w.groupKey, receiver: w.receiver, status: w.status, truncatedAlerts: w.truncatedAlerts ?? 0, externalURL: w.externalURL },
    },
  };
}

/**
 * Postgres refuses NUL in text and jsonb, and lone UTF-16 surrogates in jsonb: such a
 * payload is malformed (400), not a storage failure (503, which the sender would retry
 * forever). Returns the reason, or null when the value can be stored.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Either character that can make a string unstorable: most strings have neither, and this one test is cheap. */
const SUSPECT = /[\u0000\uD800-\uDFFF]/;

export function unstorableReason(value: unknown, path = "$", depth = 0): string | null {
  if (depth > 16) return `${path}: nested too deeply`;
  if (typeof value === "string") {
    if (!SUSPECT.test(value)) return null;
    if (value.includes("\u0000")) return `${path}: contains a NUL character`;
    if (LONE_SURROGATE.test(value)) return `${path}: contains a lone UTF-16 surrogate`;
    return null;
  }
  // Below, a child that cannot fail (a plain string, a number) is passed over without building
  // its path: paths are built only for a child that is looked into.
  const childIsDeep = depth + 1 > 16;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (!childIsDeep && (typeof v === "string" ? !SUSPECT.test(v) : typeof v !== "object" || v === null)) continue;
      const r = unstorableReason(v, `${path}[${i}]`, depth + 1);
      if (r) return r;
    }
    return null;
  }
  if (typeof value === "object" && value !== null) {
    const obj = value as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      if (childIsDeep || SUSPECT.test(k)) {
        const r = unstorableReason(k, `${path} key`, depth + 1);
        if (r) return r;
      }
      const v = obj[k];
      if (typeof v === "string" ? !SUSPECT.test(v) : typeof v !== "object" || v === null) continue;
      const r = unstorableReason(v, `${path}.${k}`, depth + 1);
      if (r) return r;
    }
  }
  return null;
}
