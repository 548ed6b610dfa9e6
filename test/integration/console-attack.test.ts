import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleApp } from "../../src/console/app.ts";
import { LiveHub } from "../../src/console/live.ts";
import { createConsoleAuth } from "../../src/console/auth/index.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { People } from "../../src/identity/people.ts";
import { loadConfig } from "../../src/config.ts";
import { fakeService, servicePlaybook } from "../fixtures/playbooks.ts";
import { consoleCore, fakeAuth, oidcPerson, seedIncident, serveConsole } from "../helpers/console.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

/**
 * A review's attacks on the console, over real HTTP with a real store: what the read-only
 * console serves to a loopback socket that is not a person on this machine (a web page that
 * rebound its name to 127.0.0.1, a reverse proxy on the same host), and what an event stream
 * that is never read does to belay.
 */
let store: TestStore;
let served: Awaited<ReturnType<typeof serveConsole>>;

beforeAll(async () => {
  store = await openTestStore("pg", "console_attack");
  const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())] });
  await seedIncident(store.db, "inc_att1", { title: "Redis at maxmemory (attack)" });
  const config = loadConfig({ BELAY_LOG_LEVEL: "silent" });
  const auth = await createConsoleAuth(config, { people: new People(), logger: silentLogger, now: Date.now });
  served = await serveConsole(consoleCore(store.db, engine, config), { auth, heartbeatMs: 50 });
}, 60_000);
afterAll(async () => {
  await served?.close();
  await store?.close();
});

/** A GET with headers fetch would not let us set (Host), over a loopback socket. */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(served.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: "GET", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the read-only console and loopback sockets that are not a person on this machine", () => {
  it("serves a loopback Host (localhost, 127.x, [::1]) with its port", async () => {
    const port = new URL(served.url).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, "localhost"]) {
      const res = await rawGet("/console/incidents/inc_att1", { host });
      expect(res.status, host).toBe(200);
      expect(res.body).toContain("Redis at maxmemory (attack)");
    }
  });

  it("refuses a page whose name was rebound to 127.0.0.1 (Host is not loopback): no incident data, one line", async () => {
    const port = new URL(served.url).port;
    for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1.evil.example:${port}`, `localhost.evil.example:${port}`]) {
      for (const path of ["/console/", "/console/incidents/inc_att1", "/console/events", "/console/postmortems/inc_att1.md"]) {
        const res = await rawGet(path, { host });
        expect(res.status, `${host} ${path}`).toBe(403);
        expect(res.body).not.toContain("maxmemory");
        expect(res.body.trim().split("\n")).toHaveLength(1);
      }
    }
  });

  it("refuses what a reverse proxy on this host forwarded (Forwarded, X-Forwarded-For, X-Real-IP)", async () => {
    const port = new URL(served.url).port;
    const forwarded: Record<string, string>[] = [{ "x-forwarded-for": "203.0.113.7" }, { forwarded: "for=203.0.113.7" }, { "x-real-ip": "203.0.113.7" }, { "x-forwarded-host": "belay.example.com" }];
    for (const h of forwarded) {
      const res = await rawGet("/console/incidents/inc_att1", { host: `127.0.0.1:${port}`, ...h });
      expect(res.status, JSON.stringify(h)).toBe(403);
      expect(res.body).not.toContain("maxmemory");
      expect(res.body).toMatch(/proxy/);
    }
  });
});

describe("an event stream that is never read", () => {
  it("does not hold belay's memory or its shutdown: the stream is dropped and the server stops within seconds", async () => {
    const config = loadConfig({ BELAY_LOG_LEVEL: "silent" });
    const auth = await createConsoleAuth(config, { people: new People(), logger: silentLogger, now: Date.now });
    const { engine } = testEngine({ db: store.db, playbooks: [] });
    const own = await serveConsole(consoleCore(store.db, engine, config), { auth, heartbeatMs: 50 });
    const u = new URL(own.url);
    const sock = connect(Number(u.port), u.hostname);
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write(`GET /console/events HTTP/1.1\r\nHost: 127.0.0.1:${u.port}\r\nAccept: text/event-stream\r\n\r\n`);
    let first = "";
    await new Promise<void>((r) => sock.once("data", (d) => ((first = String(d)), r())));
    expect(first).toContain("200");
    sock.pause(); // and never read again
    const live = own.integration.live;
    expect(live.size).toBe(1);
    const event = (i: number) => ({ kind: "step.started", runId: `run_${i}`, incidentId: `inc_${i}` }) as never;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 300; i++) {
      live.publish(Array.from({ length: 1000 }, (_, j) => event(i * 1000 + j)));
      await new Promise((r) => setImmediate(r));
    }
    // 300 000 messages (~30 MB) were offered; a client that reads nothing must not be sent them all
    // (before: the stream stayed, 430 MB of heap queued for it, and closing the server never ended).
    await new Promise((r) => setTimeout(r, 200));
    expect(live.size).toBe(0);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    const t0 = Date.now();
    await Promise.race([own.close(), new Promise((r) => setTimeout(r, 10_000))]);
    expect(Date.now() - t0).toBeLessThan(3000);
    sock.destroy();
  }, 60_000);
});

describe("many event streams", () => {
  // Before: each stream's connection was kept alive after the stream ended, so the server's close waited ~4 s (its keep-alive timeout).
  it("two hundred open streams end at once when the server stops", async () => {
    const config = loadConfig({ BELAY_LOG_LEVEL: "silent" });
    const auth = await createConsoleAuth(config, { people: new People(), logger: silentLogger, now: Date.now });
    const { engine } = testEngine({ db: store.db, playbooks: [] });
    const own = await serveConsole(consoleCore(store.db, engine, config), { auth, heartbeatMs: 50 });
    const streams = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const res = await fetch(`${own.url}/console/events`);
        const reader = res.body!.getReader();
        await reader.read();
        // Boxed: an async function returning the promise would wait for the stream's end.
        return { ended: (async () => {
          while (!(await reader.read().catch(() => ({ done: true }))).done);
        })() };
      }),
    );
    expect(own.integration.live.size).toBe(200);
    const t0 = Date.now();
    await own.close();
    await Promise.all(streams.map((s) => s.ended));
    expect(Date.now() - t0).toBeLessThan(1500);
  }, 30_000);
});

describe("a store that is slow or failing", () => {
  const local = { headers: { host: "localhost" } };
  const from = { incoming: { socket: { remoteAddress: "127.0.0.1" } } } as never;

  it("a page the store does not answer in time is a one-line 503 page, not a hang; a decision says it may still be recorded", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())] });
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "cli", incidentId: "inc_att1" });
    await engine.drive(runId);
    const auth = fakeAuth({ principal: oidcPerson("bob") });
    const app = createConsoleApp({ core: consoleCore(store.db, engine), auth, live: new LiveHub(), clock: () => new Date(), requestTimeoutMs: 500 });
    // A real slow store: another session holds the tables the pages read.
    const locker = new pg.Client({ connectionString: store.url! });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE incidents, runs IN ACCESS EXCLUSIVE MODE");
    try {
      for (const path of ["/console/", "/console/incidents/inc_att1", `/console/runs/${runId}`]) {
        const t0 = Date.now();
        const res = await app.request(path, local, from);
        expect(Date.now() - t0, path).toBeLessThan(3000);
        expect(res.status, path).toBe(503);
        const text = await res.text();
        expect(text).toContain("did not answer within");
        expect(text).not.toMatch(/\bat .*\.ts:\d+/);
      }
      const t0 = Date.now();
      const res = await app.request(`/console/runs/${runId}/decide`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ _csrf: "csrf-bob", action: "abort" }) }, from);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain("may still be recorded");
    } finally {
      await locker.query("ROLLBACK");
      await locker.end();
    }
    // The store answers again: so does the page.
    expect((await app.request("/console/incidents/inc_att1", local, from)).status).toBe(200);
  }, 30_000);

  it("a store that fails is a 500 page saying what to do, with no stack and no DSN", async () => {
    const { openPg } = await import("../../src/store/pg.ts");
    const url = new URL(store.url!);
    url.password = "hunter2-s3cret";
    url.port = "1"; // nothing listens: every query fails
    const broken = openPg(url.toString());
    const { engine } = testEngine({ db: broken, playbooks: [] });
    const app = createConsoleApp({ core: consoleCore(broken, engine), auth: fakeAuth({ principal: oidcPerson("bob") }), live: new LiveHub(), clock: () => new Date() });
    try {
      for (const path of ["/console/", "/console/incidents/inc_att1", "/console/runs/run_x", "/console/drills", "/console/postmortems/inc_att1.md"]) {
        const res = await app.request(path, local, from);
        expect(res.status, path).toBe(500);
        const text = await res.text();
        expect(text).toContain("Something went wrong");
        expect(text).not.toMatch(/\bat .*\.ts:\d+|ECONNREFUSED|hunter2/);
      }
    } finally {
      await broken.close();
    }
  });
});

describe("decisions from the console", () => {
  it("one person approving a high-risk step twice counts once; each decision's audit names surface console and auth oidc", async () => {
    const svc = fakeService();
    const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(svc)] });
    const auth = fakeAuth({ principal: oidcPerson("bob") });
    const app = createConsoleApp({ core: consoleCore(store.db, engine), auth, live: new LiveHub(), clock: () => new Date() });
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "cli" });
    await engine.drive(runId);
    const formOf = async (step: number) => {
      const html = await (await app.request(`/console/runs/${runId}`)).text();
      const form = [...html.matchAll(/<form method="post" action="[^"]*\/decide" class="decide">([\s\S]*?)<\/form>/g)].map((m) => m[1]!).find((f) => f.includes(`name="step" value="${step}"`))!;
      return Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
    };
    const post = (fields: Record<string, string>) => app.request(`/console/runs/${runId}/decide`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields) });
    expect((await post({ ...(await formOf(2)), action: "approve" })).status).toBe(200);
    await engine.drive(runId);
    const high = await formOf(3);
    expect((await post({ ...high, action: "approve" })).status).toBe(200);
    const again = await post({ ...high, action: "approve" });
    expect(again.status).toBe(409);
    await engine.drive(runId);
    expect((await engine.view(runId)).steps[3]!.status).toBe("awaiting_approval");
    expect(svc.restarts).toBe(0);
    const page = await (await app.request(`/console/runs/${runId}`)).text();
    expect(page).toContain("<strong>1 of 2</strong> approvals counted");
    const { eventsForRun } = await import("../../src/audit/chain.ts");
    const events = (await eventsForRun(store.db, runId)).filter((e) => e.actor === "bob");
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(["step.approved", "approval.refused"]));
    for (const e of events) {
      expect(e.surface, e.kind).toBe("console");
      expect(JSON.stringify(e.data), e.kind).toContain('"method":"oidc"');
    }
  });
});

describe("the read-only console when BELAY_PUBLIC_URL names another host", () => {
  const from = { incoming: { socket: { remoteAddress: "127.0.0.1" } } } as never;
  const appWith = async (env: Record<string, string>) => {
    const config = loadConfig({ BELAY_LOG_LEVEL: "silent", ...env });
    const auth = await createConsoleAuth(config, { people: new People(), logger: silentLogger, now: Date.now });
    const { engine } = testEngine({ db: store.db, playbooks: [] });
    return createConsoleApp({ core: consoleCore(store.db, engine, config), auth, live: new LiveHub(), clock: () => new Date() });
  };

  it("serves no one: people reach belay through that name, so a loopback socket may be the proxy in front of it", async () => {
    const app = await appWith({ BELAY_PUBLIC_URL: "https://belay.example.com" });
    const res = await app.request("/console/incidents/inc_att1", { headers: { host: "127.0.0.1:3000" } }, from);
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(text).not.toContain("maxmemory");
    expect(text.trim().split("\n")).toHaveLength(1);
    expect(text).toContain("BELAY_PUBLIC_URL");
  });

  it("a loopback BELAY_PUBLIC_URL keeps the loopback console", async () => {
    const app = await appWith({ BELAY_PUBLIC_URL: "http://localhost:3000" });
    expect((await app.request("/console/incidents/inc_att1", { headers: { host: "localhost:3000" } }, from)).status).toBe(200);
  });
});

describe("hostile text in what the console shows", () => {
  it("an incident title, alert labels and a person's reasons are escaped on the page, in fragments and in the postmortem page", async () => {
    const xss = `"><img src=x onerror=alert(1)><script>alert(2)</script>`;
    await seedIncident(store.db, "inc_xss", { title: `Title ${xss}`, secretLabel: `token=${xss}` });
    await store.db.query("UPDATE incident_alerts SET alert = jsonb_set(alert, '{labels,evil}', to_jsonb($1::text)) WHERE incident_id = 'inc_xss'", [xss]);
    const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())] });
    const auth = fakeAuth({ principal: oidcPerson("bob") });
    const app = createConsoleApp({ core: consoleCore(store.db, engine), auth, live: new LiveHub(), clock: () => new Date() });
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "cli", incidentId: "inc_xss" });
    await engine.drive(runId);
    const deny = await app.request(`/console/runs/${runId}/decide`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ _csrf: "csrf-bob", action: "deny", step: "2", reason: xss }) });
    expect(deny.status).toBe(200);
    for (const path of ["/console/incidents/inc_xss", "/console/incidents/inc_xss?fragment=1", `/console/runs/${runId}`, "/console/postmortems/inc_xss", "/console/"]) {
      const text = await (await app.request(path)).text();
      expect(text, path).not.toContain("<img src=x");
      expect(text, path).not.toContain("<script>alert");
      expect(text, path).not.toContain("onerror=alert(1)>");
    }
    const page = await (await app.request("/console/incidents/inc_xss")).text();
    expect(page).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });
});

describe("a decision about a run that does not exist", () => {
  it("is refused in one line, with no stack, and records nothing", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [] });
    const app = createConsoleApp({ core: consoleCore(store.db, engine), auth: fakeAuth({ principal: oidcPerson("bob") }), live: new LiveHub(), clock: () => new Date() });
    const res = await app.request("/console/runs/run_nope/decide", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ _csrf: "csrf-bob", action: "approve", step: "1", planHash: "a".repeat(64) }) });
    expect([404, 409]).toContain(res.status);
    const text = await res.text();
    expect(text).not.toMatch(/\bat .*\.ts:\d+/);
    expect(text).toMatch(/run_nope/);
  });
});
