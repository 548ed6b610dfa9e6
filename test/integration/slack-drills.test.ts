import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendAudit } from "../../src/audit/chain.ts";
import { loadDrills } from "../../src/drills/registry.ts";
import { newId } from "../../src/ids.ts";
import type { Drill } from "../../src/sdk/drill.ts";
import type { SlackDrills } from "../../src/slack/context.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { eventually, fakeSlackApi, pingPlaybook, startSlack, type FakeSlack, type SlackHarness } from "../helpers/slack.ts";

/**
 * `/runbook drill ...` and `/runbook postmortem ...` through the real Bolt app. The drills
 * are the shipped ones; running a drill end to end is drill-redis.test.ts's job, so here the
 * session only records what it was asked to start.
 */
let store: TestStore;
let slack: FakeSlack;
let h: SlackHarness;
let defs: Map<string, Drill>;
let blocked: string | null = null;
const started: { drill: string; startedBy: string; drillRunId?: string }[] = [];

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
  store = await openTestStore("pglite", "slack_drills");
  defs = await loadDrills("playbooks/drills");
  slack = fakeSlackApi();
  const drills = (): SlackDrills => ({
    defs,
    blocked,
    session: {
      run: async (drill, opts) => {
        started.push({ drill: drill.id, startedBy: opts.startedBy, ...(opts.drillRunId ? { drillRunId: opts.drillRunId } : {}) });
        throw new Error("not run in this test");
      },
    },
  });
  // Only Carol may approve high-risk steps, so only she may start a live drill.
  h = await startSlack({ db: store.db, playbooks: [pingPlaybook], drills, policy: { risks: { high: { users: ["UCAROL"] } } } });
});
afterAll(async () => {
  await h.close();
  slack.done();
  await store.close();
  nock.enableNetConnect();
});

const textOf = (m: { text?: string; blocks?: any[] } | undefined) =>
  [m?.text ?? "", ...(m?.blocks ?? []).map((b) => b.text?.text ?? (b.elements ?? []).map((e: any) => e.text ?? "").join(" "))].join("\n");

async function answer(text: string): Promise<{ ack: any; reply: any }> {
  const before = slack.responses.length;
  const res = await h.command(text);
  expect(res.status).toBe(200);
  if (res.body) return { ack: res.body, reply: null };
  await eventually(() => slack.responses.length > before);
  return { ack: res.body, reply: slack.responses[before]!.body };
}

describe("/runbook drill", () => {
  it("lists the shipped drills, live and rehearsal, labelled DRILL", async () => {
    const { reply } = await answer("drill list");
    const text = textOf(reply);
    expect(reply.text).toBe(`DRILL: ${defs.size} drills`);
    expect(text).toContain("*DRILL*");
    expect(text).toContain("*redis-maxmemory*");
    expect(text).toContain("_(REHEARSAL: effects simulated)_");
  });

  it("starts a drill after the ack, and says why it cannot when the webhook it needs is off", async () => {
    blocked = "drills send their DRILL alert through the Alertmanager webhook: set ALERTMANAGER_TOKEN";
    const refused = await answer("drill start redis-maxmemory");
    expect(refused.ack.text).toBe(`DRILL: cannot start \`redis-maxmemory\`: ${blocked}.`);
    expect(started).toEqual([]);
    blocked = null;
    expect((await answer("drill start no-such-drill")).ack.text).toBe("DRILL: no drill `no-such-drill`; `/runbook drill list` shows them.");

    const before = slack.responses.length;
    const res = await h.command("drill start redis-maxmemory", "UCAROL");
    expect(res.body.text).toBe("DRILL: checking that <@UCAROL> may start the live drill `redis-maxmemory`…");
    // Allowed: the start is confirmed, then the drill runs in the background and its outcome comes back through response_url.
    await eventually(() => slack.responses.length > before + 1);
    expect(slack.responses[before]!.body.text).toMatch(/^DRILL drl_[0-9a-z]+ started: /);
    const drillRunId = /DRILL (drl_[0-9a-z]+) started/.exec(slack.responses[before]!.body.text)![1]!;
    expect(started).toEqual([{ drill: "redis-maxmemory", startedBy: "UCAROL", drillRunId }]);
    expect(slack.responses[before + 1]!.body.text).toBe(`:warning: DRILL ${drillRunId} failed: not run in this test`);
  });

  it("refuses a live drill from someone the policy does not allow to approve high-risk steps, and audits it", async () => {
    started.length = 0;
    const before = slack.responses.length;
    await h.command("drill start redis-maxmemory", "UEVE");
    await eventually(() => slack.responses.length > before);
    expect(slack.responses[before]!.body.text).toBe(
      ":no_entry_sign: DRILL `redis-maxmemory` not started: UEVE may not start live drill redis-maxmemory: it injects a fault into a real system, which needs the authority to approve high-risk steps",
    );
    expect(started).toEqual([]);
    const audited = await store.db.query<{ actor: string; surface: string; data: string }>(`SELECT actor, surface, data FROM audit_events WHERE kind = 'drill.refused'`);
    expect(audited.rows.map((r) => ({ actor: r.actor, surface: r.surface, ...JSON.parse(r.data) }))).toEqual([
      expect.objectContaining({ actor: "UEVE", surface: "slack", drill: "redis-maxmemory", code: "not_an_approver", principal: { auth: { method: "slack", userId: "UEVE", teamId: "T0001", enterpriseId: null } } }),
    ]);
  });

  it("abort says when no drill is running", async () => {
    expect((await answer("drill abort")).reply.text).toBe("DRILL: no drill is running.");
    expect((await answer("drill nonsense")).ack.text).toContain("`drill nonsense`: use `drill list`, `drill start <drill>` or `drill abort [drill run]`.");
  });
});

describe("/runbook postmortem", () => {
  it("drafts a review from the audit trail, the chain verified first", async () => {
    const incidentId = newId("inc");
    const now = new Date();
    await store.db.query(
      `INSERT INTO incidents (id, title, service, status, created_at, updated_at, source, severity, failure_mode, alert_count, last_alert_at)
       VALUES ($1, 'KubePodCrashLooping: api is crash looping', 'api', 'open', $2, $2, 'alertmanager', 'critical', 'pod-crashloop', 1, $2)`,
      [incidentId, now],
    );
    await store.db.transaction((tx) =>
      appendAudit(tx, [{ kind: "incident.opened", actor: "belay", surface: "alertmanager", incidentId, data: { failureMode: "pod-crashloop" } }], { now, newId: () => newId("evt") }),
    );
    const { reply } = await answer(`postmortem ${incidentId}`);
    const text = textOf(reply);
    expect(reply.text).toBe(`Review draft for ${incidentId}`);
    expect(text).toMatch(/Audit chain verified first: \d+ events intact\./);
    expect(text).toContain(`Full draft: \`belay postmortem ${incidentId}\``);
    expect((await answer("postmortem inc_nope")).reply.text).toBe(":warning: no incident inc_nope");
  });
});

