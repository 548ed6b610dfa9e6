import { z } from "zod";
import { alertSchema, type Alert } from "../sdk/alert.ts";

/*
 * A PagerDuty v3 webhook delivery (one event) about an incident
 * (https://developer.pagerduty.com/docs/webhooks-overview). Pure: takes parsed JSON; the
 * signature is checked by the receiver before this runs.
 */

const reference = z.object({ id: z.string().optional(), summary: z.string(), html_url: z.string().optional() });

export const pagerdutyIncidentSchema = z.object({
  id: z.string().min(1),
  type: z.literal("incident"),
  title: z.string(),
  status: z.string().optional(),
  urgency: z.string().optional(),
  number: z.number().int().optional(),
  html_url: z.string().optional(),
  incident_key: z.string().nullable().optional(),
  created_at: z.string().optional(),
  service: reference.optional(),
  priority: reference.nullable().optional(),
});

export const pagerdutyWebhookSchema = z.object({
  event: z.object({
    id: z.string().min(1),
    event_type: z.string().regex(/^incident\.[a-z_.]+$/, 'expected an incident event type such as "incident.triggered"'),
    resource_type: z.string().optional(),
    occurred_at: z.string().optional(),
    data: pagerdutyIncidentSchema,
  }),
});

export type PagerdutyWebhook = z.infer<typeof pagerdutyWebhookSchema>;

/** Any v3 delivery: one event whose `data` depends on its type (an incident, a note, a service, a ping...). */
export const pagerdutyEnvelopeSchema = z.object({
  event: z.object({
    id: z.string().min(1),
    event_type: z.string().min(1),
    data: z.record(z.string(), z.unknown()),
  }),
});

/*
 * The event types whose `data` is an incident (PagerDuty's "Event Types" list); an incident
 * event whose data forgot its `type` is still read as one, so a malformed one is an error.
 */
const INCIDENT_DATA_EVENTS: ReadonlySet<string> = new Set([
  "incident.acknowledged",
  "incident.delegated",
  "incident.escalated",
  "incident.priority_updated",
  "incident.reassigned",
  "incident.reopened",
  "incident.resolved",
  "incident.triggered",
  "incident.unacknowledged",
]);

/**
 * Whether a delivery carries an incident (and so one alert). Notes, status updates,
 * responders, service events and `pagey.ping` carry none: they are valid and hold no alert.
 */
export function carriesIncident(envelope: z.infer<typeof pagerdutyEnvelopeSchema>): boolean {
  const type = envelope.event.data.type;
  return type === "incident" || (type === undefined && INCIDENT_DATA_EVENTS.has(envelope.event.event_type));
}

/** True when the JSON looks like a PagerDuty v3 webhook (it may still be invalid). */
export function looksLikePagerduty(json: unknown): boolean {
  return typeof json === "object" && json !== null && "event" in json && typeof (json as { event: unknown }).event === "object";
}

/** The incident as one normalised alert: its title and service are what matching reads. */
export function normalisePagerduty(webhook: PagerdutyWebhook): Alert {
  const { event } = webhook;
  const incident = event.data;
  const resolved = event.event_type === "incident.resolved" || incident.status === "resolved";
  const labels: Record<string, string> = {};
  if (incident.service) labels.service = incident.service.summary;
  if (incident.urgency) labels.urgency = incident.urgency;
  if (incident.priority) labels.priority = incident.priority.summary;
  if (incident.number !== undefined) labels.incident_number = String(incident.number);
  return alertSchema.parse({
    source: "pagerduty",
    fingerprint: `pagerduty:${incident.id}`,
    status: resolved ? "resolved" : "firing",
    title: incident.title.slice(0, 4096),
    service: incident.service ? incident.service.summary.slice(0, 512) : null,
    severity: incident.urgency === "high" ? "critical" : incident.urgency === "low" ? "warning" : null,
    labels,
    annotations: {},
    links: incident.html_url ? [{ href: incident.html_url, text: "PagerDuty incident" }] : [],
    startsAt: incident.created_at ?? event.occurred_at ?? null,
    endsAt: resolved ? (event.occurred_at ?? null) : null,
    groupKey: incident.id,
    externalId: incident.id,
  });
}
