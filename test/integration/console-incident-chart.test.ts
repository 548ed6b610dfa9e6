import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleApp } from "../../src/console/app.ts";
import { LiveHub } from "../../src/console/live.ts";
import { createTargets } from "../../src/targets/registry.ts";
import { consoleCore, fakeAuth, oidcPerson, seedIncident } from "../helpers/console.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

/**
 * The firing metric's chart on an incident page: with a Prometheus target configured, the
 * page shows the chart the Slack thread gets (src/incidents/chart.ts), read from Prometheus's
 * real HTTP API (a local stand-in answering /api/v1/query_range).
 */
let store: TestStore;
let prom: Server;
const queries: string[] = [];
let withProm: ReturnType<typeof createConsoleApp>;
let without: ReturnType<typeof createConsoleApp>;

beforeAll(async () => {
  store = await openTestStore("pg", "console_chart");
  await seedIncident(store.db, "inc_chart", { expr: "redis_memory_used_bytes / redis_memory_max_bytes * 100 > 90" });
  prom = createServer(async (req, res) => {
    // Prometheus takes the query as a form (belay POSTs it) or in the URL.
    let body = "";
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body || new URL(req.url!, "http://x").search);
    expect(new URL(req.url!, "http://x").pathname).toBe("/api/v1/query_range");
    queries.push(form.get("query") ?? "");
    const start = Number(form.get("start"));
    const values = Array.from({ length: 20 }, (_, i) => [start + i * 60, String(80 + i)]);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "success", data: { resultType: "matrix", result: [{ metric: { instance: "cache-exporter:9121" }, values }] } }));
  });
  await new Promise<void>((r) => prom.listen(0, "127.0.0.1", r));
  const targets = createTargets({ redis: {}, postgres: {}, kube: {}, prometheus: { main: { url: `http://127.0.0.1:${(prom.address() as AddressInfo).port}` } } });
  const { engine } = testEngine({ db: store.db, playbooks: [] });
  const auth = fakeAuth({ principal: oidcPerson("bob") });
  withProm = createConsoleApp({ core: { ...consoleCore(store.db, engine), targets }, auth, live: new LiveHub(), clock: () => new Date() });
  without = createConsoleApp({ core: consoleCore(store.db, engine), auth, live: new LiveHub(), clock: () => new Date() });
}, 60_000);
afterAll(async () => {
  await new Promise<void>((r) => prom?.close(() => r()));
  await store?.close();
});

describe("the incident's metric chart", () => {
  it("with a Prometheus target the page shows the chart of the alert's expression", async () => {
    const text = await (await withProm.request("/console/incidents/inc_chart")).text();
    expect(text).toContain('<img src="/console/incidents/inc_chart/chart.png"');
    const res = await withProm.request("/console/incidents/inc_chart/chart.png");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    const png = Buffer.from(await res.arrayBuffer());
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect(queries.at(-1)).toBe("redis_memory_used_bytes / redis_memory_max_bytes * 100");
  });

  it("without one there is no chart, and asking for it is a 404 saying why", async () => {
    const text = await (await without.request("/console/incidents/inc_chart")).text();
    expect(text).not.toContain("chart.png");
    const res = await without.request("/console/incidents/inc_chart/chart.png");
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/^No chart: no Prometheus target/);
  });
});
