import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../execute/deps.ts";
import { sendJson, type Handler } from "../server/http.ts";
import { readAlertmanagerDelivery, unstorableReason } from "./alertmanager-webhook.ts";
import { isJsonContentType, parseJson, readBody, refuse, type Refusal } from "./http-body.ts";
import type { Inbox, NewDelivery } from "./inbox.ts";
import { readPagerDutyDelivery } from "./pagerduty-webhook.ts";
import { verifyAlertmanagerAuth, verifyPagerDutySignature } from "./webhook-auth.ts";

export interface WebhookDeps {
  inbox: Pick<Inbox, "store">;
  logger: Logger;
  /** Bytes; larger bodies are refused with 413. */
  bodyLimit: number;
  /** Counts answers by source and status (metrics); optional. */
  count?: (source: string, status: number, alerts: number) => void;
  /** Counts deliveries acknowledged but ignored as stale (metrics); optional. */
  countStale?: (source: string) => void;
}

export interface PagerDutyHandlerDeps extends WebhookDeps {
  secrets: readonly string[];
  clock: () => Date;
  /** A delivery whose signed occurred_at is older than this is answered 202 and ignored. */
  maxAgeMs: number;
}

const WRONG_TYPE: Refusal = { status: 415, error: "expected Content-Type: application/json" };

/**
 * `POST /webhooks/pagerduty`: signature (over the raw bytes) before anything is parsed, then
 * the envelope; incident events are stored and answered 202.
 *
 * Replays: the signature covers the body, not the X-Webhook-Id header, so a captured delivery
 * can be re-posted under any id. Deliveries are therefore deduplicated on the signed event id
 * (`event.id`, the same on PagerDuty's own retries), and one whose signed `occurred_at` is older
 * than `maxAgeMs` is acknowledged (so nobody retries it) but ignored, logged and counted.
 */
export function pagerDutyHandler(deps: PagerDutyHandlerDeps): Handler {
  return async (req, res) => {
    const body = await readBody(req, deps.bodyLimit);
    if (!body.ok) return answer(deps, req, res, "pagerduty", body.refusal);
    if (!verifyPagerDutySignature(body.body, header(req, "x-pagerduty-signature"), deps.secrets)) {
      return answer(deps, req, res, "pagerduty", { status: 401, error: "missing or invalid X-PagerDuty-Signature" });
    }
    if (!isJsonContentType(header(req, "content-type"))) return answer(deps, req, res, "pagerduty", WRONG_TYPE);
    const json = parseJson(body.body);
    if (!json.ok) return answer(deps, req, res, "pagerduty", json.refusal);
    const read = readPagerDutyDelivery(json.value);
    if (!read.ok) return answer(deps, req, res, "pagerduty", { status: 400, error: read.error });
    const d = read.value;
    const age = d.occurredAt ? deps.clock().getTime() - Date.parse(d.occurredAt) : 0;
    if (Number.isFinite(age) && age > deps.maxAgeMs) {
      deps.logger.warn(
        { source: "pagerduty", eventId: d.eventId, eventType: d.eventType, occurredAt: d.occurredAt, webhookId: header(req, "x-webhook-id")?.slice(0, 256) ?? null },
        "stale PagerDuty delivery acknowledged and ignored: it occurred longer ago than BELAY_WEBHOOK_MAX_AGE_SECONDS (a replay, or a very late retry)",
      );
      deps.countStale?.("pagerduty");
      deps.count?.("pagerduty", 202, 0);
      return sendJson(res, 202, { accepted: true, ignored: true, reason: "stale", eventType: d.eventType });
    }
    if (d.kind === "ignored") {
      deps.count?.("pagerduty", 202, 0);
      return sendJson(res, 202, { accepted: true, ignored: true, eventType: d.eventType });
    }
    const delivery: NewDelivery = {
      source: "pagerduty",
      // The signed event id, never the unsigned X-Webhook-Id header (kept in meta for tracing).
      deliveryKey: `event:${d.eventId}`,
      eventType: d.eventType,
      alerts: d.alert ? [d.alert] : [],
      meta: { ...d.meta, pagerdutyIncidentId: d.incidentId, webhookId: header(req, "x-webhook-id")?.slice(0, 256) ?? null },
    };
    await store(deps, res, delivery, body.body.length);
  };
}

/** `POST /webhooks/alertmanager`: the bearer token (or basic auth) first, then every alert in the group. */
export function alertmanagerHandler(deps: WebhookDeps & { token: string }): Handler {
  return async (req, res) => {
    if (!verifyAlertmanagerAuth(header(req, "authorization"), deps.token)) {
      return answer(deps, req, res, "alertmanager", { status: 401, error: "missing or invalid bearer token (or basic auth)" }, { "www-authenticate": 'Bearer realm="belay"' });
    }
    if (!isJsonContentType(header(req, "content-type"))) return answer(deps, req, res, "alertmanager", WRONG_TYPE);
    const body = await readBody(req, deps.bodyLimit);
    if (!body.ok) return answer(deps, req, res, "alertmanager", body.refusal);
    const json = parseJson(body.body);
    if (!json.ok) return answer(deps, req, res, "alertmanager", json.refusal);
    const read = readAlertmanagerDelivery(json.value);
    if (!read.ok) return answer(deps, req, res, "alertmanager", { status: 400, error: read.error });
    await store(deps, res, { source: "alertmanager", deliveryKey: null, eventType: read.value.eventType, alerts: read.value.alerts, meta: read.value.meta }, body.body.length);
  };
}

/**
 * A webhook route belay was not configured for: 503 (with Retry-After) naming the variable to
 * set, so a sender set up before belay keeps retrying until it is, instead of a 404 that reads
 * as a wrong URL. Nothing is read or stored.
 */
export function notConfiguredHandler(deps: Pick<WebhookDeps, "count" | "logger">, source: string, variable: string, retryAfterS = 300): Handler {
  return (req, res) => {
    deps.count?.(source, 503, 0);
    deps.logger.warn({ source, status: 503 }, `webhook refused: ${source} webhooks are not configured (set ${variable})`);
    refuse(req, res, { status: 503, error: `${source === "pagerduty" ? "PagerDuty" : "Alertmanager"} webhooks are not configured on this belay: set ${variable} and restart it` }, { "retry-after": String(retryAfterS) });
  };
}

async function store(deps: WebhookDeps, res: ServerResponse, delivery: NewDelivery, bytes: number): Promise<void> {
  const bad = unstorableReason(delivery.alerts, "$alerts") ?? unstorableReason(delivery.meta, "$meta");
  if (bad) {
    deps.count?.(delivery.source, 400, 0);
    return sendJson(res, 400, { error: `cannot store this payload: ${bad}` });
  }
  try {
    const r = await deps.inbox.store(delivery, bytes);
    deps.count?.(delivery.source, 202, r.duplicate ? 0 : delivery.alerts.length);
    sendJson(res, 202, { accepted: true, id: r.id, duplicate: r.duplicate, alerts: delivery.alerts.length });
  } catch (err) {
    deps.logger.error({ err, source: delivery.source }, "could not store a webhook delivery; answered 503 so the sender retries");
    deps.count?.(delivery.source, 503, 0);
    sendJson(res, 503, { error: "the alert could not be stored; retry later" });
  }
}

function answer(deps: WebhookDeps, req: IncomingMessage, res: ServerResponse, source: string, refusal: Refusal, headers?: Record<string, string>): void {
  deps.count?.(source, refusal.status, 0);
  if (refusal.status === 401) deps.logger.warn({ source, status: 401 }, "webhook refused: authentication failed");
  refuse(req, res, refusal, headers);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}
