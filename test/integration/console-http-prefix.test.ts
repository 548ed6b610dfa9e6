import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import type { Serving } from "../../src/core.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { serve } from "../../src/main.ts";
import { createHttpServer, listen, sendText, type Route } from "../../src/server/http.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { freshPgDatabase } from "../helpers/db.ts";

/**
 * belay serve's router: exact routes as before, plus prefix routes (the console owns /console
 * and everything below it). Exact beats prefix, the longest prefix wins, a prefix owns its
 * method's 405.
 */
const says = (name: string) => (req: IncomingMessage, res: ServerResponse) => sendText(res, 200, `${name} ${req.url}`);

describe("http routes with prefixes", () => {
  const metrics = new Metrics();
  let url = "";
  let close: () => Promise<void>;
  beforeAll(async () => {
    const routes: Route[] = [
      { method: "GET", path: "/console", prefix: true, handler: says("console") },
      { method: "POST", path: "/console", prefix: true, handler: says("console-post") },
      { method: "GET", path: "/console/special", prefix: true, handler: says("special") },
      { method: "GET", path: "/console/exact", handler: says("exact") },
      { method: "GET", path: "/readonly", prefix: true, handler: says("readonly") },
      { method: "POST", path: "/webhooks/alertmanager", handler: says("am") },
    ];
    const server = createHttpServer({ routes, metrics, logger: silentLogger, ready: async () => ({ ok: true, detail: "ok" }) });
    const addr: AddressInfo = await listen(server, 0, "127.0.0.1");
    url = `http://127.0.0.1:${addr.port}`;
    close = () => new Promise<void>((r) => server.close(() => r()));
  });
  afterAll(() => close());

  const text = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}${path}`, init);
    return { status: res.status, body: await res.text(), allow: res.headers.get("allow") };
  };

  it("a prefix route serves its path and everything below it, with the query", async () => {
    expect(await text("/console")).toMatchObject({ status: 200, body: "console /console" });
    expect(await text("/console/")).toMatchObject({ status: 200, body: "console /console/" });
    expect(await text("/console/incidents/inc_1?fragment=1")).toMatchObject({ status: 200, body: "console /console/incidents/inc_1?fragment=1" });
    expect(await text("/console/a", { method: "POST", body: "x" })).toMatchObject({ status: 200, body: "console-post /console/a" });
  });

  it("only below a path segment: /consolex is not /console's", async () => {
    expect((await text("/consolex")).status).toBe(404);
    expect((await text("/console-old/x")).status).toBe(404);
  });

  it("exact routes win over prefixes, and the longest prefix wins", async () => {
    expect((await text("/console/exact")).body).toBe("exact /console/exact");
    expect((await text("/console/exact/more")).body).toBe("console /console/exact/more");
    expect((await text("/console/special/x")).body).toBe("special /console/special/x");
    expect((await text("/console/specialist")).body).toBe("console /console/specialist");
  });

  it("every other route is as exact as before: health, metrics, webhooks; 404 and 405 as before", async () => {
    expect(await text("/healthz")).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect((await text("/healthz/extra")).status).toBe(404);
    expect(await text("/healthz", { method: "POST", body: "" })).toMatchObject({ status: 405, allow: "GET" });
    expect(await text("/webhooks/alertmanager")).toMatchObject({ status: 405, allow: "POST" });
    expect((await text("/webhooks/alertmanager/x", { method: "POST", body: "" })).status).toBe(404);
    expect((await text("/nothing")).status).toBe(404);
  });

  it("a method a prefix does not serve is a 405 naming the ones it does", async () => {
    expect(await text("/readonly/x", { method: "POST", body: "" })).toMatchObject({ status: 405, allow: "GET" });
  });

  it("metrics label a prefix route by its prefix, not by each path (bounded cardinality)", async () => {
    await text("/console/incidents/inc_2");
    const m = await metrics.render();
    expect(m).toContain('route="/console/*"');
    expect(m).not.toContain('route="/console/incidents/inc_2"');
  });
});

describe("belay serve mounts the console", () => {
  let serving: Serving;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await freshPgDatabase("console_prefix");
    drop = db.drop;
    serving = await serve(loadConfig({ DATABASE_URL: db.url, BELAY_PLAYBOOKS_DIR: "test/fixtures/cli-playbooks", BELAY_LOG_LEVEL: "silent" }), { port: 0, host: "127.0.0.1" });
  }, 60_000);
  afterAll(async () => {
    await serving?.close();
    await drop?.();
  });

  it("on its port under /console/, beside the health and webhook routes", async () => {
    expect(serving.integrations.map((i) => i.name)).toContain("console");
    const res = await fetch(`${serving.url}/console/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("<h1>Incidents</h1>");
    const bare = await fetch(`${serving.url}/console`, { redirect: "manual" });
    expect(bare.status).toBe(301);
    expect(bare.headers.get("location")).toBe("/console/");
    expect((await fetch(`${serving.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${serving.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${serving.url}/consolex`)).status).toBe(404);
  });
});
