import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleApp } from "../../src/console/app.ts";
import { LiveHub } from "../../src/console/live.ts";
import { eventsForRun } from "../../src/audit/chain.ts";
import type { Engine } from "../../src/execute/engine.ts";
import { getApprovals } from "../../src/store/runs.ts";
import { fakeService, servicePlaybook, type FakeService } from "../fixtures/playbooks.ts";
import { consoleCore, fakeAuth, oidcPerson, seedIncident } from "../helpers/console.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

/**
 * Decisions from the console go through the engine's decide path with the session's
 * principal: approve runs the step, a stale plan hash is refused, the requester may not approve
 * their own high-risk step, and nothing changes without a session and a good CSRF token.
 * The sign-in is the ConsoleAuth seam, faked here (it has its own tests).
 */
let store: TestStore;
let engine: Engine;
let svc: FakeService;
const alice = oidcPerson("alice");
const bob = oidcPerson("bob");
const carol = oidcPerson("carol");
const auth = fakeAuth(null);
let app: ReturnType<typeof createConsoleApp>;

beforeAll(async () => {
  store = await openTestStore("pg", "console_actions");
  svc = fakeService();
  ({ engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(svc)] }));
  app = createConsoleApp({ core: consoleCore(store.db, engine), auth, live: new LiveHub(), clock: () => new Date() });
}, 60_000);
afterAll(async () => {
  await store?.close();
});

async function proposeAndWait(requestedBy = "alice"): Promise<string> {
  const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy, surface: "console" });
  await engine.drive(runId);
  return runId;
}

const page = async (path: string) => {
  const res = await app.request(path);
  return { status: res.status, text: await res.text() };
};

/** The hidden fields of the step's form, as a browser would send them. */
function formOf(html: string, stepIdx: number): Record<string, string> {
  const forms = [...html.matchAll(/<form method="post" action="[^"]*\/decide" class="decide">([\s\S]*?)<\/form>/g)].map((m) => m[1]!);
  const form = forms.find((f) => f.includes(`name="step" value="${stepIdx}"`));
  if (!form) throw new Error(`no form for step ${stepIdx}`);
  return Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
}

const post = (runId: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  app.request(`/console/runs/${runId}/decide`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(fields) });

describe("console decisions", () => {
  it("without a session: pages redirect to sign-in, the event stream and every POST answer 401", async () => {
    auth.setSession(null);
    const runId = await proposeAndWait();
    const res = await app.request(`/console/runs/${runId}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`/console/auth/login?returnTo=${encodeURIComponent(`/console/runs/${runId}`)}`);
    expect((await app.request("/console/events")).status).toBe(401);
    expect((await app.request(`/console/runs/${runId}?fragment=1`)).status).toBe(401);
    for (const action of ["approve", "deny", "skip", "retry", "abort"]) {
      expect((await post(runId, { action, step: "2", planHash: "a".repeat(64) })).status, action).toBe(401);
    }
    expect((await engine.view(runId)).run.status).toBe("awaiting_approval");
  });

  it("approve from the page runs the step; the approval is audited with surface console and auth oidc", async () => {
    auth.setSession({ principal: bob });
    const runId = await proposeAndWait();
    const { text } = await page(`/console/runs/${runId}`);
    expect(text).toContain("Signed in as <strong>bob</strong>");
    const fields = formOf(text, 2);
    expect(fields._csrf).toBe("csrf-bob");
    const view = await engine.view(runId);
    expect(fields.planHash).toBe(view.run.planHash);
    expect(text).toContain(view.run.planHash.slice(0, 12));

    const res = await post(runId, { ...fields, action: "approve" });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("set-policy approved by bob; it runs now");
    await engine.drive(runId);
    expect(svc.policy).toBe("allkeys-lru");
    const after = await engine.view(runId);
    expect(after.steps.find((s) => s.name === "set-policy")!.status).toBe("succeeded");
    expect(after.steps.find((s) => s.name === "restart")!.status).toBe("awaiting_approval");
    // The settled step names who let it through, whatever the plan's hash is now.
    await store.db.query("UPDATE runs SET plan_hash = $2 WHERE id = $1", [runId, "e".repeat(64)]);
    const settled = (await page(`/console/runs/${runId}`)).text;
    const step3 = settled.slice(settled.indexOf(`id="step-${runId}-2"`), settled.indexOf(`id="step-${runId}-3"`));
    expect(step3).toContain("Started, approved by <strong>bob</strong>");
    expect(step3).not.toContain("does not count");
    const [approval] = await getApprovals(store.db, runId, 2);
    expect(approval).toMatchObject({ actor: "bob", surface: "console", auth: { method: "oidc", subject: "sub-bob" } });
    const approved = (await eventsForRun(store.db, runId)).find((e) => e.kind === "step.approved")!;
    expect(approved).toMatchObject({ actor: "bob", surface: "console" });
  });

  it("a bad or missing CSRF token is 403 and decides nothing", async () => {
    auth.setSession({ principal: bob });
    const runId = await proposeAndWait();
    const fields = formOf((await page(`/console/runs/${runId}`)).text, 2);
    for (const bad of [{ ...fields, _csrf: "forged" }, Object.fromEntries(Object.entries(fields).filter(([k]) => k !== "_csrf"))]) {
      const res = await post(runId, { ...bad, action: "approve" });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/^Refused: .*CSRF/);
    }
    expect(await getApprovals(store.db, runId)).toHaveLength(0);
  });

  it("an approval of a plan the page showed earlier is refused by the engine, and the page says the plan changed", async () => {
    auth.setSession({ principal: bob });
    const runId = await proposeAndWait();
    const fields = formOf((await page(`/console/runs/${runId}`)).text, 2);
    const stale = "f".repeat(64); // the hash an older page carried
    const res = await post(runId, { ...fields, planHash: stale, action: "approve" });
    expect(res.status).toBe(409);
    const text = await res.text();
    expect(text).toContain("Refused:");
    expect(text).toContain("The plan changed since this page was loaded");
    // The page now shows the current plan's hash on its forms.
    expect(formOf(text, 2).planHash).toBe((await engine.view(runId)).run.planHash);
    expect(await getApprovals(store.db, runId)).toHaveLength(0);
    const refused = (await eventsForRun(store.db, runId)).find((e) => e.kind === "approval.refused")!;
    expect(refused).toMatchObject({ actor: "bob", surface: "console", data: { code: "plan_changed" } });
  });

  it("the requester may not approve their own high-risk step; two others may", async () => {
    const runId = await proposeAndWait("alice");
    auth.setSession({ principal: bob });
    await post(runId, { ...formOf((await page(`/console/runs/${runId}`)).text, 2), action: "approve" });
    await engine.drive(runId);
    expect((await engine.view(runId)).steps[3]!.status).toBe("awaiting_approval");

    auth.setSession({ principal: alice });
    const own = await post(runId, { ...formOf((await page(`/console/runs/${runId}`)).text, 3), action: "approve" });
    expect(own.status).toBe(409);
    const ownText = await own.text();
    expect(ownText.match(/<p class="notice error"[^]*?<\/p>/)?.[0]).toMatch(/Refused: alice asked for this run and may not approve its high-risk steps/);

    auth.setSession({ principal: bob });
    const first = await post(runId, { ...formOf((await page(`/console/runs/${runId}`)).text, 3), action: "approve" });
    expect(await first.text()).toContain("1 more approval(s) needed");
    auth.setSession({ principal: carol });
    const second = await post(runId, { ...formOf((await page(`/console/runs/${runId}`)).text, 3), action: "approve" });
    expect(await second.text()).toContain("restart approved by bob and carol; it runs now");
    const restarts = svc.restarts;
    const done = await engine.drive(runId);
    expect(done.run.status).toBe("succeeded");
    expect(svc.restarts).toBe(restarts + 1);
  });

  it("deny, skip and abort go through the same path", async () => {
    auth.setSession({ principal: bob });
    const denied = await proposeAndWait();
    const d = await post(denied, { ...formOf((await page(`/console/runs/${denied}`)).text, 2), action: "deny", reason: "not now" });
    expect(await d.text()).toContain("set-policy denied by bob: not now");
    expect((await engine.view(denied)).run.status).toBe("aborted");

    const skipped = await proposeAndWait();
    await post(skipped, { ...formOf((await page(`/console/runs/${skipped}`)).text, 2), action: "skip" });
    expect((await engine.view(skipped)).steps[2]!.status).toBe("skipped");

    const aborted = await proposeAndWait();
    const text = (await page(`/console/runs/${aborted}`)).text;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(text)![1]!;
    const a = await post(aborted, { _csrf: csrf, action: "abort", reason: "wrong target" });
    expect(a.status).toBe(200);
    expect((await engine.view(aborted)).run.status).toBe("aborted");
    // A finished run shows no forms.
    expect((await page(`/console/runs/${aborted}`)).text).not.toContain('class="decide"');
  });

  it("a decision from an incident's page answers with that page", async () => {
    auth.setSession({ principal: bob });
    await seedIncident(store.db, "inc_act");
    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "alice", surface: "console", incidentId: "inc_act" });
    await engine.drive(runId);
    const fields = formOf((await page("/console/incidents/inc_act")).text, 2);
    expect(fields.back).toBe("/console/incidents/inc_act");
    const res = await post(runId, { ...fields, action: "approve" });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("set-policy approved by bob; it runs now");
    expect(text).toContain("<h2>Alerts</h2>");
    expect(text).toContain('data-fragment="/console/incidents/inc_act?fragment=1"');
  });

  it("a malformed form is a 400 saying what was wrong, in one line", async () => {
    auth.setSession({ principal: bob });
    const runId = await proposeAndWait();
    const res = await post(runId, { _csrf: "csrf-bob", action: "approve", step: "two" });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text.match(/<p class="notice error"[^]*?<\/p>/)?.[0]).toMatch(/Nothing was done: the form(.|&#39;)s step must be a step number/);
  });

  it("signed in but not in people: no page shows anything (signing in at the provider is not enough), and each says what to add", async () => {
    auth.setSession(null);
    const runId = await proposeAndWait();
    const unmapped = { principal: null, displayName: "mallory@example.test", csrf: "csrf-m", expiresAt: Date.now() + 60_000, subject: "sub-mallory" };
    const app2 = createConsoleApp({ core: consoleCore(store.db, engine), auth: { ...auth, session: async () => unmapped }, live: new LiveHub(), clock: () => new Date() });
    for (const path of ["/console/", `/console/runs/${runId}`, `/console/runs/${runId}?fragment=run`, "/console/events", "/console/drills"]) {
      const page = await app2.request(path);
      expect(page.status, path).toBe(403);
      const text = await page.text();
      expect(text, path).toMatch(/^not mapped: add oidc: sub-mallory to your entry in people: in BELAY_CONFIG/);
      expect(text, path).not.toContain(runId);
    }
    const res = await app2.request(`/console/runs/${runId}/decide`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ _csrf: "csrf-m", action: "abort" }) });
    expect(res.status).toBe(403);
  });
});
