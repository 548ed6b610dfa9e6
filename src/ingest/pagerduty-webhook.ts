import { z } from "zod";
import type { Alert } from "../sdk/alert.ts";
import { jsonPath } from "./parse-file.ts";
import { normalisePagerduty, pagerdutyWebhookSchema } from "./pagerduty-normalise.ts";

/*
 * What a PagerDuty v3 delivery means to belay. The shared normaliser reads deliveries whose
 * `event.data` is an incident; `incident.annotated` carries an incident_note and service.*
 * events a service, so the envelope is read here first and only incident data is handed on.
 */

/** Start (or restart) triage. */
export const PAGERDUTY_START_EVENTS = ["incident.triggered", "incident.reopened"] as const;
/** Update the incident belay already has. */
export const PAGERDUTY_UPDATE_EVENTS = [
  "incident.acknowledged",
  "incident.unacknowledged",
  "incident.resolved",
  "incident.annotated",
  "incident.escalated",
  "incident.reassigned",
  "incident.delegated",
  "incident.priority_updated",
] as const;

const envelopeSchema = z.object({
  event: z.object({
    id: z.string().min(1).max(256),
    event_type: z.string().min(1).max(128),
    resource_type: z.string().max(128).nullish(),
    occurred_at: z.string().max(64).nullish(),
    agent: z.object({ id: z.string().max(256).optional(), summary: z.string().max(1024).optional(), type: z.string().max(128).optional() }).nullish().catch(null),
    data: z.record(z.string(), z.unknown()),
  }),
});

const noteSchema = z.object({
  id: z.string().max(256).optional(),
  type: z.literal("incident_note"),
  content: z.string().max(65_536),
  incident: z.object({ id: z.string().min(1).max(256), summary: z.string().max(4096).optional(), html_url: z.string().max(2048).optional() }),
});

export type PagerDutyDelivery =
  | { kind: "ignored"; eventId: string; eventType: string; occurredAt: string | null }
  | {
      kind: "incident";
      eventId: string;
      eventType: string;
      /** The signed `event.occurred_at`, as sent. */
      occurredAt: string | null;
      /** The PagerDuty incident id. */
      incidentId: string;
      /** The incident as an alert (start, resolve and status updates), or null for a note. */
      alert: Alert | null;
      meta: Record<string, unknown>;
    };

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Reads a verified delivery; a malformed one is an error naming the JSON path and what was expected. */
export function readPagerDutyDelivery(json: unknown): Parsed<PagerDutyDelivery> {
  const env = envelopeSchema.safeParse(json);
  if (!env.success) return { ok: false, error: describeIssues("PagerDuty v3 webhook", env.error.issues) };
  const { event } = env.data;
  const type = event.event_type;
  const agent = event.agent ? { id: event.agent.id ?? null, summary: event.agent.summary ?? null, type: event.agent.type ?? null } : null;
  const known = (PAGERDUTY_START_EVENTS as readonly string[]).includes(type) || (PAGERDUTY_UPDATE_EVENTS as readonly string[]).includes(type);
  const occurredAt = event.occurred_at ?? null;
  if (!known) return { ok: true, value: { kind: "ignored", eventId: event.id, eventType: type, occurredAt } };

  if (type === "incident.annotated") {
    const note = noteSchema.safeParse(event.data);
    if (!note.success) return { ok: false, error: describeIssues("incident_note", note.error.issues, ["event", "data"]) };
    return {
      ok: true,
      value: {
        kind: "incident",
        eventId: event.id,
        eventType: type,
        occurredAt,
        incidentId: note.data.incident.id,
        alert: null,
        meta: { eventId: event.id, occurredAt: event.occurred_at ?? null, agent, note: { id: note.data.id ?? null, content: note.data.content.slice(0, 2000) } },
      },
    };
  }

  const parsed = pagerdutyWebhookSchema.safeParse(json);
  if (!parsed.success) return { ok: false, error: describeIssues("PagerDuty incident event", parsed.error.issues) };
  let alert: Alert;
  try {
    alert = normalisePagerduty(parsed.data);
  } catch (err) {
    const issues = err instanceof z.ZodError ? err.issues : [{ path: [], message: (err as Error).message }];
    return { ok: false, error: describeIssues("PagerDuty incident", issues as z.core.$ZodIssue[]) };
  }
  const data = parsed.data.event.data;
  return {
    ok: true,
    value: {
      kind: "incident",
      eventId: event.id,
      eventType: type,
      occurredAt,
      incidentId: data.id,
      alert,
      meta: { eventId: event.id, occurredAt: event.occurred_at ?? null, agent, status: data.status ?? null, htmlUrl: data.html_url ?? null, number: data.number ?? null },
    },
  };
}

export function describeIssues(what: string, issues: readonly { path: readonly PropertyKey[]; message: string }[], prefix: readonly PropertyKey[] = []): string {
  const shown = issues.slice(0, 5).map((i) => `${jsonPath([...prefix, ...i.path])}: ${i.message}`);
  if (issues.length > 5) shown.push(`and ${issues.length - 5} more`);
  return `invalid ${what}: ${shown.join("; ")}`;
}
