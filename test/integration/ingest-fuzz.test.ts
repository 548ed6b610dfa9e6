import { afterAll, beforeAll, expect, it } from "vitest";
import { signPagerDuty } from "../../src/ingest/webhook-auth.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { AM_TOKEN, PD_SECRET, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { pdAnnotated, pdIncidentEvent, pdServiceUpdated } from "../fixtures/webhooks/pagerduty.ts";

/*
 * 10,000 mutated payloads against the real routes on loopback: every answer is a 2xx or a
 * 4xx, never a 5xx, the process never sees an unhandled rejection, and the server still
 * answers a clean payload afterwards. PagerDuty mutations are signed (most of them), so the
 * parser behind the signature check is what gets exercised.
 */

const TOTAL = 10_000;
const CONCURRENCY = 24;

let store: TestStore;
let h: IngestHarness;
const rejections: unknown[] = [];
const onRejection = (err: unknown) => rejections.push(err);

beforeAll(async () => {
  process.on("unhandledRejection", onRejection);
  store = await openTestStore("pg", "ingest_fuzz");
  h = await startIngest({ db: store.db, pagerduty: null });
});
afterAll(async () => {
  process.off("unhandledRejection", onRejection);
  await h.close();
  await store.close();
});

function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE_VALUES: unknown[] = [
  null, true, 0, -1, 1e308, "", "x".repeat(5000), "\u0000", "\ud800", "💥", [], {}, [[[[]]]], { __proto__: { polluted: true } },
  "constructor", { toString: "x" }, Number.MAX_SAFE_INTEGER, "0001-01-01T00:00:00Z", "../../etc/passwd", "<script>", "'; DROP TABLE incidents; --",
];
const HOSTILE_KEYS = ["__proto__", "constructor", "prototype", "", "a".repeat(300), "\u0000", "status", "labels", "fingerprint"];

function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function mutateJson(base: unknown, rnd: () => number): unknown {
  const doc = JSON.parse(JSON.stringify(base));
  const n = 1 + Math.floor(rnd() * 3);
  let root: any = { doc };
  for (let m = 0; m < n; m++) {
    const all = paths(root.doc);
    const path = all[Math.floor(rnd() * all.length)]!;
    const parentPath = path.slice(0, -1);
    const key = path[path.length - 1];
    const parent = parentPath.reduce((o: any, k) => o?.[k], root.doc);
    const pick = <T,>(xs: readonly T[]): T => JSON.parse(JSON.stringify(xs[Math.floor(rnd() * xs.length)]!) ?? "null");
    const op = Math.floor(rnd() * 6);
    if (key === undefined || parent === null || typeof parent !== "object") {
      root.doc = pick(HOSTILE_VALUES);
      continue;
    }
    if (op === 0) delete parent[key];
    else if (op === 1) parent[key] = pick(HOSTILE_VALUES);
    else if (op === 2) parent[key] = typeof parent[key] === "string" ? Number(parent[key]) || 7 : String(parent[key]);
    else if (op === 3 && !Array.isArray(parent)) parent[pick(HOSTILE_KEYS)] = pick(HOSTILE_VALUES);
    else if (op === 4) parent[key] = Array.isArray(parent[key]) ? Array.from({ length: 1 + Math.floor(rnd() * 200) }, () => JSON.parse(JSON.stringify(parent[key][0] ?? null))) : [parent[key]];
    else parent[key] = { nested: parent[key] };
  }
  return root.doc;
}

function mutateBytes(raw: string, rnd: () => number): string {
  const op = Math.floor(rnd() * 4);
  if (op === 0) return raw.slice(0, Math.floor(rnd() * raw.length));
  if (op === 1) {
    const i = Math.floor(rnd() * raw.length);
    return raw.slice(0, i) + String.fromCharCode(Math.floor(rnd() * 256)) + raw.slice(i + 1);
  }
  if (op === 2) return `${"[".repeat(1 + Math.floor(rnd() * 3000))}${raw}`;
  return raw.replace(/"/g, () => (rnd() < 0.05 ? "'" : '"'));
}

const AM_BASES = [
  amPayload({ alerts: [amAlert({ alertname: "KubePodCrashLooping", labels: { namespace: "shop", pod: "api-1", severity: "critical" } })] }),
  amPayload({
    truncatedAlerts: 3,
    alerts: [amAlert({ alertname: "RedisDown", status: "resolved" }), amAlert({ alertname: "RedisDown", labels: { instance: "r1" }, annotations: { summary: "Redis down" } })],
  }),
];
const PD_BASES = [pdIncidentEvent("incident.triggered", "PFUZZ01"), pdIncidentEvent("incident.resolved", "PFUZZ01"), pdAnnotated("PFUZZ01"), pdServiceUpdated()];

it(`answers ${TOTAL} mutated payloads with 2xx or 4xx only, without crashing`, { timeout: 120_000 }, async () => {
  const rnd = prng(0xbe1a7);
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= TOTAL) return;
      const toPd = rnd() < 0.5;
      const base = toPd ? PD_BASES[i % PD_BASES.length]! : AM_BASES[i % AM_BASES.length]!;
      let raw = JSON.stringify(mutateJson(base, rnd));
      if (rnd() < 0.25) raw = mutateBytes(raw, rnd);
      const contentType = rnd() < 0.03 ? "text/plain" : "application/json";
      const headers: Record<string, string> = { "content-type": contentType };
      if (toPd) {
        if (rnd() < 0.9) headers["x-pagerduty-signature"] = signPagerDuty(raw, PD_SECRET);
        headers["x-webhook-id"] = `fuzz-${i}`;
      } else if (rnd() < 0.95) headers.authorization = `Bearer ${AM_TOKEN}`;
      const r = await h.post(toPd ? "/webhooks/pagerduty" : "/webhooks/alertmanager", raw, headers);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status >= 500) throw new Error(`payload ${i} got ${r.status}: ${raw.slice(0, 300)} -> ${JSON.stringify(r.body)}`);
      if (r.status >= 400) expect(typeof r.body?.error).toBe("string");
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  expect(total).toBe(TOTAL);
  for (const s of statuses.keys()) expect([202, 400, 401, 413, 415]).toContain(s);
  expect(statuses.get(400)).toBeGreaterThan(1000); // the mutations really do break payloads
  expect(statuses.get(202)).toBeGreaterThan(100);
  expect(rejections).toEqual([]);
  // Still serving, and what was accepted drains without error.
  expect((await h.postAm(AM_BASES[0]!)).status).toBe(202);
  await h.ingestion.worker.drainAll();
  const left = await store.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ingest_deliveries WHERE processed_at IS NULL OR error IS NOT NULL`);
  expect(left.rows[0]!.n).toBe(0);
});
