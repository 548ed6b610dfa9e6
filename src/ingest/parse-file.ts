import { z } from "zod";
import { BelayError } from "../errors.ts";
import { alertSchema, type Alert } from "../sdk/alert.ts";
import { alertmanagerWebhookSchema, looksLikeAlertmanager, normaliseAlertmanager } from "./alertmanager-normalise.ts";
import { carriesIncident, looksLikePagerduty, normalisePagerduty, pagerdutyEnvelopeSchema, pagerdutyWebhookSchema } from "./pagerduty-normalise.ts";

/**
 * The alerts in a file given to `belay match --alert FILE`: an Alertmanager webhook (every
 * alert in the group), a PagerDuty v3 webhook (the incident; none for a delivery about a note,
 * a responder, a service or a ping), a normalised alert, or an
 * array of normalised alerts. A malformed file is a BelayError("input.invalid") naming the
 * file, the JSON path of the bad field and what was expected.
 */
export function parseAlertFile(json: unknown, path: string): Alert[] {
  if (looksLikeAlertmanager(json)) {
    return normaliseAlertmanager(validate(alertmanagerWebhookSchema, json, path, "Alertmanager webhook"));
  }
  if (looksLikePagerduty(json)) {
    const envelope = validate(pagerdutyEnvelopeSchema, json, path, "PagerDuty v3 webhook");
    if (!carriesIncident(envelope)) return [];
    return [normalisePagerduty(validate(pagerdutyWebhookSchema, json, path, "PagerDuty v3 webhook"))];
  }
  if (Array.isArray(json)) {
    return validate(z.array(alertSchema).min(1, "expected at least one alert"), json, path, "list of normalised alerts");
  }
  if (typeof json === "object" && json !== null && ("fingerprint" in json || "source" in json)) {
    return [validate(alertSchema, json, path, "normalised alert")];
  }
  throw new BelayError(
    "input.invalid",
    `${path}: not an alert file: expected an Alertmanager webhook (an object with "version": "4" and "alerts"), ` +
      `a PagerDuty v3 webhook (an object with "event"), or a normalised alert (an object with "source" and "fingerprint")`,
  );
}

function validate<S extends z.ZodType>(schema: S, json: unknown, path: string, what: string): z.output<S> {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const shown = issues.slice(0, 5).map((i) => `${jsonPath(i.path)}: ${i.message}`);
  if (issues.length > 5) shown.push(`and ${issues.length - 5} more`);
  throw new BelayError("input.invalid", `${path}: invalid ${what}: ${shown.join("; ")}`, {
    details: issues.map((i) => ({ path: jsonPath(i.path), message: i.message })),
  });
}

/** `["alerts", 0, "status"]` -> `$.alerts[0].status`. */
export function jsonPath(segments: readonly PropertyKey[]): string {
  let out = "$";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (typeof s === "string" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out;
}
