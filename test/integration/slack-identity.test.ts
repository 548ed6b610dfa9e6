import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../src/audit/chain.ts";
import { People, principalFromTerminal } from "../../src/identity/index.ts";
import { getApprovals, getRun, listRuns } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { buttonValue, cachePlaybook, CHANNEL, eventually, fakeSlackApi, startSlack, TEAM, type CacheState, type FakeSlack, type SlackHarness } from "../helpers/slack.ts";

/** Alice is one person in Slack (UALICE) and at a terminal (login games). */
const people = new People({ alice: { slack: "UALICE", login: "games" }, bob: { slack: "UBOB" }, carol: { slack: "UCAROL" }, ops: { login: "root" } });
const terminal = (login: string, opts: { as?: string; reason?: string } = {}) =>
  principalFromTerminal(people, { login, host: "bastion-1" }, { ...opts, breakGlass: { allowed: ["ops"] } });

let store: TestStore;
let slack: FakeSlack;
let h: SlackHarness;
const state: CacheState = { policy: "noeviction", restarts: 0, verifyOk: true };

const textOf = (m: { blocks?: any[] } | undefined) =>
  (m?.blocks ?? []).map((b) => b.text?.text ?? b.elements?.map((e: any) => e.text?.text ?? e.text ?? "").join(" ") ?? "").join("\n");

/** A signed interaction as Slack sends it, from whichever team the test says. */
function interaction(type: "block_actions" | "view_submission", o: { user: string; team: string; userTeam?: string; enterprise?: string; value?: string; actionId?: string }) {
  const base = {
    type,
    user: { id: o.user, username: o.user.toLowerCase(), team_id: o.userTeam ?? o.team },
    api_app_id: "A0BELAY",
    token: "legacy",
    team: { id: o.team, domain: "elsewhere" },
    ...(o.enterprise ? { enterprise: { id: o.enterprise, name: "Other Corp" } } : {}),
    trigger_id: "13345224609.738474920.8088930838d88f008e9",
  };
  const payload =
    type === "block_actions"
      ? {
          ...base,
          container: { type: "message", message_ts: "1700000000.000001", channel_id: CHANNEL, is_ephemeral: false },
          channel: { id: CHANNEL, name: "incidents" },
          message: { type: "message", ts: "1700000000.000001", text: "" },
          response_url: "https://hooks.slack.com/commands/T0001/1/x",
          actions: [{ type: "button", action_id: o.actionId ?? "belay.approve.1", block_id: "run:0", value: o.value ?? "bt_xxxxxxxxxxxxxxxxxxxxxx", action_ts: String(Date.now() / 1000) }],
        }
      : { ...base, view: { id: "V0001", team_id: o.team, type: "modal", hash: "1.abc", callback_id: "belay.run", private_metadata: "{}", state: { values: {} }, blocks: [] } };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

async function refusedRequests(): Promise<{ actor: string; data: Record<string, any> }[]> {
  const r = await store.db.query<{ actor: string; data: string }>(`SELECT actor, data FROM audit_events WHERE kind = 'slack.request_refused' ORDER BY seq`);
  return r.rows.map((x) => ({ actor: x.actor, data: JSON.parse(x.data) }));
}

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
  store = await openTestStore("pglite", "slack-identity");
  slack = fakeSlackApi();
  h = await startSlack({
    db: store.db,
    playbooks: [cachePlaybook(state)],
    policy: { risks: { low: { users: ["bob", "alice"] } }, breakGlass: { allowed: ["ops"] } },
    settings: { people, acknowledgeRisk: "low" },
  });
});
afterAll(async () => {
  await h.close();
  slack.done();
  await store.close();
  nock.enableNetConnect();
});

describe("requests from outside the installed team", () => {
  it("refuses a slash command from another team, ephemerally, and audits it", async () => {
    const r = await h.command("run cache-fix replicas=3", "UEVE", { team_id: "T0OTHER", team_domain: "other" });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ response_type: "ephemeral", text: expect.stringContaining("acts only for people of the workspace it is installed in") });
    await h.settled();
    expect(await listRuns(store.db, { limit: 5 })).toEqual([]);
    expect(await refusedRequests()).toEqual([
      { actor: "UEVE", data: expect.objectContaining({ type: "slash_command", reason: `team T0OTHER is not the installed team ${TEAM}`, installed: { teamId: TEAM, enterpriseId: null } }) },
    ]);
  });

  it("refuses a click from another team, from a user of another team in a shared channel, and from another org", async () => {
    const before = (await refusedRequests()).length;
    expect((await h.post(interaction("block_actions", { user: "UEVE", team: "T0OTHER" }))).status).toBe(200);
    expect((await h.post(interaction("block_actions", { user: "UEVE", team: TEAM, userTeam: "T0OTHER" }))).status).toBe(200);
    expect((await h.post(interaction("block_actions", { user: "UEVE", team: TEAM, enterprise: "E0OTHER" }))).status).toBe(200);
    expect((await h.post(interaction("view_submission", { user: "UEVE", team: "T0OTHER" }))).status).toBe(200);
    await h.settled();
    const refused = (await refusedRequests()).slice(before);
    expect(refused.map((r) => [r.data.type, r.data.reason])).toEqual([
      ["block_actions", `team T0OTHER is not the installed team ${TEAM}`],
      ["block_actions", `the user belongs to team T0OTHER, not the installed team ${TEAM}`],
      ["block_actions", "enterprise E0OTHER is not the installed one (none)"],
      ["view_submission", `team T0OTHER is not the installed team ${TEAM}`],
    ]);
    // Each click was told (through its response_url), and nothing else was called.
    expect(slack.responses.filter((r) => String(r.body.text).includes("installed in"))).toHaveLength(3);
    expect(slack.of("chat.postEphemeral")).toEqual([]);
  });
});

describe("one person across surfaces", () => {
  it("stores a Slack requester as the person, who cannot then approve the high-risk step from a terminal", async () => {
    const before = slack.posted().length;
    await h.command("run cache-fix replicas=3", "UALICE");
    await eventually(() => slack.posted().length > before);
    const msg = slack.posted()[before]!;
    const runId = /Run `(run_[a-z0-9]+)`/.exec(textOf(msg))![1]!;
    expect((await getRun(store.db, runId))!.requestedBy).toBe("alice");
    await eventually(() => buttonValue(slack.latest(msg.ts)!.blocks, "belay.approve") !== undefined);
    await h.click(buttonValue(slack.latest(msg.ts)!.blocks, "belay.approve")!, "UBOB", "belay.approve.1");
    await eventually(async () => (await getRun(store.db, runId))!.status === "awaiting_approval" && (await getApprovals(store.db, runId, 1)).length === 1);
    await eventually(async () => (await getRun(store.db, runId))!.statusReason?.includes("restart-writer") ?? false);

    const fromTerminal = await h.engine.decide({ kind: "approve", runId, step: "restart-writer", actor: terminal("games"), planHash: (await getRun(store.db, runId))!.planHash });
    expect(fromTerminal).toMatchObject({ accepted: false, code: "self_approval", message: expect.stringContaining("alice asked for this run") });
    // ...nor from Slack: the two are one person, so the step still needs two others.
    await eventually(() => textOf(slack.latest(msg.ts)).includes(":raised_hand: *3. restart-writer*"));
    await h.click(buttonValue(slack.latest(msg.ts)!.blocks, "belay.approve")!, "UALICE", "belay.approve.2");
    await eventually(() => slack.of("chat.postEphemeral").some((e) => e.user === "UALICE" && String(e.text).includes("alice asked for this run")));
    expect(await getApprovals(store.db, runId, 2)).toEqual([]);
  });

  it("announces a break-glass approval in the run's thread", async () => {
    const before = slack.posted().length;
    await h.command("run cache-fix replicas=4", "UCAROL");
    await eventually(() => slack.posted().length > before);
    const msg = slack.posted()[before]!;
    const runId = /Run `(run_[a-z0-9]+)`/.exec(textOf(msg))![1]!;
    await eventually(async () => (await getRun(store.db, runId))!.status === "awaiting_approval");
    const r = await h.engine.decide({ kind: "approve", runId, step: "set-policy", actor: terminal("root", { as: "bob", reason: "bob's laptop died" }), planHash: (await getRun(store.db, runId))!.planHash });
    expect(r.accepted).toBe(true);
    await eventually(() => slack.posted().some((p) => p.thread_ts === msg.ts && String(p.text).includes("Break-glass")));
    const note = slack.posted().find((p) => p.thread_ts === msg.ts && String(p.text).includes("Break-glass"))!;
    expect(note.text).toBe(`:rotating_light: *Break-glass*: login \`root\` on \`bastion-1\` (ops) made a approve decision on \`set-policy\` of run \`${runId}\` for <@UBOB>. Reason: bob's laptop died`);
    const events = await eventsForRun(store.db, runId);
    expect(events.filter((e) => e.kind === "break_glass.used")).toHaveLength(1);
    // The run's message names people as Slack knows them, and says which approval was break-glass.
    await eventually(() => textOf(slack.latest(msg.ts)).includes("(break-glass by *ops*)"));
    expect(textOf(slack.latest(msg.ts))).toContain("<@UBOB> (break-glass by *ops*) at");
    expect(textOf(slack.latest(msg.ts))).toContain("requested by <@UCAROL> via slack");
  });
});

describe("acknowledging PagerDuty from Slack", () => {
  it("needs the authority of a low-risk approval", async () => {
    const acked: unknown[] = [];
    h.surface.registerAction("pagerduty.acknowledge", async (input) => {
      acked.push(input.principal.person);
      return "Acknowledged in PagerDuty.";
    });
    const token = await h.surface.ctx.tokens.issue({ action: "pagerduty.acknowledge", incidentId: "inc_pd1" });
    const ephemeralsBefore = slack.of("chat.postEphemeral").length;
    await h.click(token, "UEVE", "belay.pagerduty.acknowledge");
    await eventually(() => slack.of("chat.postEphemeral").length > ephemeralsBefore);
    expect(slack.of("chat.postEphemeral").at(-1)).toMatchObject({
      user: "UEVE",
      text: ":no_entry_sign: Not acknowledged: UEVE may not acknowledge PagerDuty incidents: that needs the authority to approve low-risk steps (pagerduty.acknowledgeRisk).",
    });
    expect(acked).toEqual([]);
    const refused = await store.db.query<{ actor: string; data: string }>(`SELECT actor, data FROM audit_events WHERE kind = 'approval.refused' AND incident_id = 'inc_pd1'`);
    expect(refused.rows.map((r) => [r.actor, JSON.parse(r.data).code])).toEqual([["UEVE", "not_an_approver"]]);

    await h.click(token, "UBOB", "belay.pagerduty.acknowledge");
    await eventually(() => acked.length === 1);
    expect(acked).toEqual(["bob"]);
  });
});
