import { describe, expect, it } from "vitest";
import { readAlertmanagerDelivery, unstorableReason } from "../../src/ingest/alertmanager-webhook.ts";
import { isJsonContentType, parseJson } from "../../src/ingest/http-body.ts";
import { readPagerDutyDelivery } from "../../src/ingest/pagerduty-webhook.ts";
import { signPagerDuty, splitSecrets, verifyAlertmanagerAuth, verifyPagerDutySignature } from "../../src/ingest/webhook-auth.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { pdAnnotated, pdIncidentEvent, pdServiceUpdated } from "../fixtures/webhooks/pagerduty.ts";

describe("PagerDuty signature", () => {
  const body = Buffer.from('{"event":{"id":"1"}}');
  it("accepts any listed v1 signature made with any configured secret", () => {
    expect(verifyPagerDutySignature(body, signPagerDuty(body, "new"), ["new"])).toBe(true);
    expect(verifyPagerDutySignature(body, signPagerDuty(body, "old", "new"), ["new"])).toBe(true);
    expect(verifyPagerDutySignature(body, signPagerDuty(body, "old"), ["new", "old"])).toBe(true);
    expect(verifyPagerDutySignature(body, ` ${signPagerDuty(body, "new").toUpperCase().replace("V1=", "v1=")} `, ["new"])).toBe(true);
  });
  it("refuses missing, malformed, other-scheme and wrong signatures", () => {
    expect(verifyPagerDutySignature(body, undefined, ["new"])).toBe(false);
    expect(verifyPagerDutySignature(body, "", ["new"])).toBe(false);
    expect(verifyPagerDutySignature(body, "v1=abc", ["new"])).toBe(false);
    expect(verifyPagerDutySignature(body, signPagerDuty(body, "new").replace("v1", "v2"), ["new"])).toBe(false);
    expect(verifyPagerDutySignature(body, signPagerDuty(body, "other"), ["new"])).toBe(false);
    expect(verifyPagerDutySignature(Buffer.from(`${body} `), signPagerDuty(body, "new"), ["new"])).toBe(false);
    expect(verifyPagerDutySignature(body, signPagerDuty(body, "new"), [])).toBe(false);
  });
  it("splits rotating secrets", () => {
    expect(splitSecrets(" a, b ,,")).toEqual(["a", "b"]);
    expect(splitSecrets(undefined)).toEqual([]);
  });
});

describe("Alertmanager auth", () => {
  it("takes Bearer, or Basic with the token as password", () => {
    expect(verifyAlertmanagerAuth("Bearer tok", "tok")).toBe(true);
    expect(verifyAlertmanagerAuth("bearer tok", "tok")).toBe(true);
    expect(verifyAlertmanagerAuth(`Basic ${Buffer.from("am:tok").toString("base64")}`, "tok")).toBe(true);
    expect(verifyAlertmanagerAuth(`Basic ${Buffer.from("tok").toString("base64")}`, "tok")).toBe(false);
    expect(verifyAlertmanagerAuth("Bearer to", "tok")).toBe(false);
    expect(verifyAlertmanagerAuth("Token tok", "tok")).toBe(false);
    expect(verifyAlertmanagerAuth(undefined, "tok")).toBe(false);
  });
});

describe("body parsing", () => {
  it("knows JSON content types", () => {
    expect(isJsonContentType("application/json; charset=utf-8")).toBe(true);
    expect(isJsonContentType("Application/JSON")).toBe(true);
    expect(isJsonContentType("application/jsonp")).toBe(false);
    expect(isJsonContentType(undefined)).toBe(false);
  });
  it("refuses deep nesting before JSON.parse, but not brackets inside strings", () => {
    expect(parseJson(Buffer.from(`${"[".repeat(65)}${"]".repeat(65)}`))).toMatchObject({ ok: false, refusal: { status: 400 } });
    expect(parseJson(Buffer.from(JSON.stringify({ s: "[".repeat(500), t: '\\"[[[' })))).toMatchObject({ ok: true });
    expect(parseJson(Buffer.from("{"))).toMatchObject({ ok: false, refusal: { status: 400 } });
  });
  it("finds what Postgres cannot store", () => {
    expect(unstorableReason({ a: ["ok", "x\u0000"] })).toBe("$.a[1]: contains a NUL character");
    expect(unstorableReason({ a: "\ud800x" })).toContain("lone UTF-16 surrogate");
    expect(unstorableReason({ a: "😀" })).toBeNull();
  });
});

describe("reading deliveries", () => {
  it("reads PagerDuty incident events, notes, and ignores service events", () => {
    const t = readPagerDutyDelivery(pdIncidentEvent("incident.triggered", "P1"));
    expect(t).toMatchObject({ ok: true, value: { kind: "incident", incidentId: "P1", eventType: "incident.triggered", alert: { status: "firing", fingerprint: "pagerduty:P1" } } });
    expect(readPagerDutyDelivery(pdIncidentEvent("incident.resolved", "P1"))).toMatchObject({ ok: true, value: { alert: { status: "resolved" } } });
    expect(readPagerDutyDelivery(pdAnnotated("P1", "hi"))).toMatchObject({ ok: true, value: { kind: "incident", incidentId: "P1", alert: null, meta: { note: { content: "hi" } } } });
    expect(readPagerDutyDelivery(pdServiceUpdated())).toMatchObject({ ok: true, value: { kind: "ignored", eventType: "service.updated" } });
    const bad = readPagerDutyDelivery({ event: { id: "x", event_type: "incident.triggered", data: { id: "P", type: "incident" } } });
    expect(bad).toMatchObject({ ok: false });
    expect(!bad.ok && bad.error).toContain("$.event.data.title");
  });
  it("reads every Alertmanager alert keyed on status, zero-time endsAt becoming null", () => {
    const r = readAlertmanagerDelivery(amPayload({ truncatedAlerts: 2, alerts: [amAlert({ alertname: "A" }), amAlert({ alertname: "A", status: "resolved", labels: { x: "1" } })] }));
    expect(r.ok && r.value.alerts.map((a) => [a.status, a.endsAt])).toEqual([["firing", null], ["resolved", "2026-11-22T03:10:00.000Z"]]);
    expect(r.ok && r.value.meta).toMatchObject({ truncatedAlerts: 2, receiver: "belay\\-webhook" });
  });
});
