import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleApp } from "../../src/console/app.ts";
import { LiveHub } from "../../src/console/live.ts";
import type { DrillReport, Scores } from "../../src/drills/report.ts";
import { insertDrillRun, setDrillStatus } from "../../src/drills/store.ts";
import { consoleCore, fakeAuth, oidcPerson } from "../helpers/console.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

/** The drills page: each drill's runs and reports, and its scores over its runs as an SVG chart. */
let store: TestStore;
let app: ReturnType<typeof createConsoleApp>;

function report(id: string, startedAt: Date, scores: Scores, status: DrillReport["status"] = "passed"): DrillReport {
  return {
    drill: { id: "redis-maxmemory", title: "Redis at maxmemory", hypothesis: "If Redis fills up, belay proposes the eviction fix within a minute.", mode: "rehearsal", target: "cache", blastRadius: "the cache", rehearsalNote: null },
    drillRunId: id, status, reason: status === "failed" ? "recovery took too long" : null, startedBy: "alice",
    startedAt: startedAt.toISOString(), finishedAt: new Date(startedAt.getTime() + 120_000).toISOString(),
    incidentId: null, runId: null, proposedPlaybook: "redis-maxmemory-policy", hypothesisHeld: status === "passed",
    criteria: [{ name: "proposed", expected: "<= 60 s", measured: scores.detectS, unit: "s", ok: true, detail: "proposed redis-maxmemory-policy" }],
    scores, probe: null, simulated: ["maxmemory 1mb"], undo: [], timeline: [{ at: startedAt.toISOString(), t: 0, event: "injected", detail: "maxmemory 1mb <script>alert(1)</script>" }], trend: [],
  };
}

beforeAll(async () => {
  store = await openTestStore("pg", "console_drills");
  const { engine } = testEngine({ db: store.db, playbooks: [] });
  const runs: [string, number, Scores, DrillReport["status"]][] = [
    ["drl_1", 3, { detectS: 12, acknowledgeS: 40, approveS: 55, recoverS: 90 }, "passed"],
    ["drl_2", 2, { detectS: 9, acknowledgeS: 30, approveS: 41, recoverS: 70 }, "passed"],
    ["drl_3", 1, { detectS: 8, acknowledgeS: null, approveS: null, recoverS: null }, "failed"],
  ];
  for (const [id, daysAgo, scores, status] of runs) {
    const startedAt = new Date(Date.now() - daysAgo * 86_400_000);
    await insertDrillRun(store.db, { id, drillId: "redis-maxmemory", mode: "rehearsal", target: "cache", startedBy: "alice", owner: "t", leaseMs: 1000, now: startedAt });
    await setDrillStatus(store.db, id, status, null, new Date(startedAt.getTime() + 120_000), report(id, startedAt, scores, status) as unknown as Record<string, unknown>);
  }
  await insertDrillRun(store.db, { id: "drl_live", drillId: "redis-maxmemory", mode: "rehearsal", target: "cache", startedBy: "bob", owner: "t", leaseMs: 60_000, now: new Date() });
  app = createConsoleApp({ core: consoleCore(store.db, engine), auth: fakeAuth({ principal: oidcPerson("bob") }), live: new LiveHub(), clock: () => new Date() });
}, 60_000);
afterAll(async () => {
  await store?.close();
});

describe("console drills", () => {
  it("lists each drill's runs with their scores and reports, and links its chart", async () => {
    const res = await app.request("/console/drills");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("Redis at maxmemory");
    for (const id of ["drl_1", "drl_2", "drl_3", "drl_live"]) expect(text).toContain(id);
    expect(text).toContain("12 s");
    expect(text).toContain("recovery took too long");
    expect(text).toContain("If Redis fills up");
    expect(text).toContain('<img src="/console/drills/redis-maxmemory/chart.svg"');
    // A report's text is escaped, never markup.
    expect(text).not.toContain("<script>alert(1)</script>");
    expect(text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("the running drill is on the overview", async () => {
    const text = await (await app.request("/console/")).text();
    expect(text).toContain("drl_live");
    expect(text).toContain("Drills in progress");
  });

  it("the chart is an SVG with one line per score over the runs, oldest first", async () => {
    const res = await app.request("/console/drills/redis-maxmemory/chart.svg");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^image\/svg\+xml/);
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
    const svg = await res.text();
    expect(svg).toMatch(/^<svg/);
    for (const name of ["time to detect", "time to acknowledge", "time to approve", "time to recover"]) expect(svg).toContain(name);
    expect(svg).toContain("3 runs");
    // Four lines (one path per series); the scores span 8..90 s, so the axis reaches 90 or more.
    expect((svg.match(/<path d="M[^"]*L/g) ?? []).length).toBeGreaterThanOrEqual(4);
    expect(svg).toMatch(/>(90|100)</);
  });

  it("a drill with no report has no chart: 404 saying so", async () => {
    const res = await app.request("/console/drills/nope/chart.svg");
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/has no report yet/);
  });
});
