import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleApp } from "../../src/console/app.ts";
import { createConsoleAuth } from "../../src/console/auth/index.ts";
import { LiveHub } from "../../src/console/live.ts";
import { isLoopback } from "../../src/console/security.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { People } from "../../src/identity/people.ts";
import { loadConfig } from "../../src/config.ts";
import { fakeService, servicePlaybook } from "../fixtures/playbooks.ts";
import { consoleCore, seedIncident, serveConsole } from "../helpers/console.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

/**
 * Without OIDC the console is read-only and loopback-only: pages render a seeded incident and
 * its run with the whole plan (over real HTTP, through belay serve's router), any other peer is
 * refused by its socket address, and every state-changing request is refused.
 */
const DSN = "postgres://app:hunter2-s3cret@db.internal:5432/app";
let store: TestStore;
let served: Awaited<ReturnType<typeof serveConsole>>;
let runId: string;

beforeAll(async () => {
  store = await openTestStore("pg", "console_ro");
  const { engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())] });
  await seedIncident(store.db, "inc_ro1", { secretLabel: DSN });
  // A secret where the postmortem prints it (the incident's title): every download is a sink too.
  await seedIncident(store.db, "inc_ro2", { title: `Postgres refused ${DSN}` });
  ({ runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "cli", incidentId: "inc_ro1" }));
  await engine.drive(runId);
  const config = loadConfig({ BELAY_LOG_LEVEL: "silent" });
  const auth = await createConsoleAuth(config, { people: new People(), logger: silentLogger, now: Date.now });
  served = await serveConsole(consoleCore(store.db, engine, config), { auth });
}, 60_000);
afterAll(async () => {
  await served?.close();
  await store?.close();
});

const get = (path: string, init?: RequestInit) => fetch(`${served.url}${path}`, { redirect: "manual", ...init });

describe("console without OIDC", () => {
  it("the overview lists the open incident, its target and the run waiting for people", async () => {
    const res = await get("/console/");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("Redis at maxmemory");
    expect(text).toContain("redis/cache");
    expect(text).toContain("redis-maxmemory");
    expect(text).toContain(`/console/runs/${runId}`);
    expect(text).toMatch(/awaiting approval/);
    expect(text).toContain("Read-only: sign-in is not configured");
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    expect(res.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    expect(res.headers.get("content-security-policy")).not.toMatch(/unsafe-inline/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("same-origin");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("an incident page shows its alerts, the whole plan, the timeline with the chain's verdict, and no secret", async () => {
    const res = await get("/console/incidents/inc_ro1");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("firing");
    expect(text).toContain("resolved");
    expect(text).toContain("alertname=RedisOutOfConfiguredMaxmemory");
    expect(text).toContain("2026-12-03 08:00:00Z");
    for (const step of ["read-state", "set-policy", "restart", "done"]) expect(text).toContain(step);
    expect(text).toContain("policy noeviction -&gt; allkeys-lru"); // the preview, escaped
    expect(text).toContain("medium risk");
    expect(text).toContain("high risk");
    expect(text).toContain("automatic if verify fails");
    expect(text).toContain("irreversible: a restart cannot be undone");
    expect(text).toContain("0 of 1</strong> approval");
    expect(text).toMatch(/Audit chain verified: \d+ events intact/);
    expect(text).toContain("run.proposed");
    expect(text).not.toContain("hunter2-s3cret");
    // Read-only: no decision forms.
    expect(text).not.toContain('name="_csrf"');
    expect(text).not.toMatch(/<form method="post" action="\/console\/runs/);
  });

  it("a run page shows one run the same way; a fragment is the live region only", async () => {
    const text = await (await get(`/console/runs/${runId}`)).text();
    expect(text).toContain("Fix the service");
    expect(text).toContain("awaiting approval");
    const frag = await (await get(`/console/runs/${runId}?fragment=1`)).text();
    expect(frag).not.toContain("<!doctype html>");
    expect(frag).toContain("set-policy");
  });

  it("unknown ids are a 404 page, not a stack", async () => {
    for (const path of ["/console/incidents/nope", "/console/runs/run_nope", "/console/postmortems/nope", "/console/nothing-here"]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      const text = await res.text();
      expect(text).toContain("Not found");
      expect(text).not.toMatch(/\bat .*\.ts:\d+/);
    }
  });

  it("the postmortem draft renders and downloads as Markdown", async () => {
    const page = await get("/console/postmortems/inc_ro1");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Post-incident review (draft)");
    const md = await get("/console/postmortems/inc_ro1.md");
    expect(md.status).toBe(200);
    expect(md.headers.get("content-type")).toMatch(/text\/markdown/);
    expect(md.headers.get("content-disposition")).toMatch(/attachment; filename="postmortem-inc_ro1.md"/);
    const text = await md.text();
    expect(text).toMatch(/^# Post-incident review \(draft\): Redis at maxmemory/);
    expect(text).not.toContain("hunter2-s3cret");
    const leaky = await (await get("/console/postmortems/inc_ro2.md")).text();
    expect(leaky).toMatch(/^# Post-incident review \(draft\): Postgres refused/);
    expect(leaky).not.toContain("hunter2-s3cret");
  });

  it("the stylesheet and script are files (so the CSP needs no inline code)", async () => {
    const css = await get("/console/assets/console.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toMatch(/text\/css/);
    const js = await get("/console/assets/console.js");
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect(await js.text()).toContain("EventSource");
  });

  it("every state-changing request is refused (403: sign-in is off), and nothing is decided", async () => {
    for (const action of ["approve", "deny", "skip", "retry", "abort"]) {
      const res = await get(`/console/runs/${runId}/decide`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ action, step: "2", planHash: "0".repeat(64) }),
      });
      expect(res.status, action).toBe(403);
      expect(await res.text()).toMatch(/read-only/);
    }
    for (const path of ["/console/", "/console/auth/logout", "/console/anything"]) {
      expect((await get(path, { method: "POST", body: "" })).status, path).toBe(403);
    }
    const page = await (await get(`/console/runs/${runId}`)).text();
    expect(page).toContain("awaiting approval");
  });
});

describe("who may, without OIDC", () => {
  it("loopback is 127.0.0.0/8, ::1 and IPv4-mapped 127.x; nothing else", () => {
    for (const a of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]) expect(isLoopback(a), a).toBe(true);
    for (const a of ["192.0.2.2", "10.0.0.1", "::ffff:10.0.0.1", "fd00::2", "128.0.0.1", "1127.0.0.1", "127.0.0.256", "", undefined, "::"]) expect(isLoopback(a), String(a)).toBe(false);
  });

  it("a peer whose socket is not loopback is refused with one line, whatever X-Forwarded-For says", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [] });
    const config = loadConfig({ BELAY_LOG_LEVEL: "silent" });
    const auth = await createConsoleAuth(config, { people: new People(), logger: silentLogger, now: Date.now });
    const app = createConsoleApp({ core: consoleCore(store.db, engine, config), auth, live: new LiveHub(), clock: () => new Date() });
    const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } }) as never;
    const refused = await app.request("/console/", { headers: { "x-forwarded-for": "127.0.0.1" } }, from("203.0.113.9"));
    expect(refused.status).toBe(403);
    const line = await refused.text();
    expect(line.trim().split("\n")).toHaveLength(1);
    expect(line).toMatch(/only loopback/);
    expect((await app.request("/console/", {}, from("::ffff:127.0.0.1"))).status).toBe(200);
    // No socket at all (nothing says who it is): refused.
    expect((await app.request("/console/")).status).toBe(403);
  });

  const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === "IPv4" && !i.internal);
  it.skipIf(!external)("over real HTTP from this machine's non-loopback address: 403", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [] });
    const config = loadConfig({ BELAY_LOG_LEVEL: "silent" });
    const auth = await createConsoleAuth(config, { people: new People(), logger: silentLogger, now: Date.now });
    const other = await serveConsole(consoleCore(store.db, engine, config), { auth, host: external!.address });
    try {
      const res = await fetch(`${other.url}/console/`, { headers: { "x-forwarded-for": "127.0.0.1" } });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/only loopback/);
      expect((await fetch(`${other.url}/console/incidents/inc_ro1`)).status).toBe(403);
    } finally {
      await other.close();
    }
  });
});
