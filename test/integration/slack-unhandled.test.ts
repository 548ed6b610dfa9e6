import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { CHANNEL, eventually, fakeSlackApi, pingPlaybook, TEAM, type FakeSlack, type SlackHarness, startSlack } from "../helpers/slack.ts";

// Requests belay has no handler for are still acknowledged well inside Slack's 3 s, with a
// line of help, never Bolt's 404 (which Slack shows as "dispatch_failed"). Each case was a 404
// after 3 s before src/slack/handlers/unhandled.ts.

let store: TestStore;
let slack: FakeSlack;
let h: SlackHarness;
const actionReplies: { path: string; body: any }[] = [];

const ACTION_URL = "https://hooks.slack.com/actions/T0001/5544/legacyx";
const user = { id: "UALICE", username: "ualice", name: "ualice", team_id: TEAM };
const team = { id: TEAM, domain: "acme" };
const channel = { id: CHANNEL, name: "incidents" };
const form = (payload: unknown) => new URLSearchParams({ payload: JSON.stringify(payload) }).toString();

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
  store = await openTestStore("pglite", "slack_unhandled");
  slack = fakeSlackApi();
  nock("https://hooks.slack.com")
    .persist()
    .post(/^\/actions\//)
    .reply(function (uri, body) {
      actionReplies.push({ path: uri, body: typeof body === "string" ? JSON.parse(body) : body });
      return [200, "ok"];
    });
  h = await startSlack({ db: store.db, playbooks: [pingPlaybook] });
});
afterAll(async () => {
  await h.close();
  slack.done();
  nock.cleanAll();
  await store.close();
  nock.enableNetConnect();
});

/** Posts a signed request; it must be answered 200 within Slack's 3 s. */
async function expectAcked(body: string) {
  const r = await h.post(body);
  expect(r.status).toBe(200);
  expect(r.ms).toBeLessThan(3000);
  return r;
}

describe("requests belay does not handle", () => {
  it("a command name other than the configured one says which one this belay answers", async () => {
    const r = await expectAcked(
      new URLSearchParams({ token: "legacy", team_id: TEAM, team_domain: "acme", channel_id: CHANNEL, user_id: "UALICE", user_name: "ualice", command: "/rb", text: "list", api_app_id: "A0BELAY", response_url: "https://hooks.slack.com/commands/T0001/1/z", trigger_id: "1.2.3" }).toString(),
    );
    expect(r.body).toEqual({ response_type: "ephemeral", text: expect.stringContaining("This belay answers `/runbook`, not `/rb`") });
  });

  it("the configured command still works beside the catch-all (acked once)", async () => {
    const r = await h.command("help");
    expect(r.status).toBe(200);
    expect(r.body.text).toContain("`/runbook list [query]`");
  });

  it("a button from an older message or another app version: acked, and the clicker is told why nothing happened", async () => {
    const r = await expectAcked(
      form({
        type: "block_actions",
        user,
        api_app_id: "A0BELAY",
        token: "legacy",
        container: { type: "message", message_ts: "1699999999.000100", channel_id: CHANNEL, is_ephemeral: false },
        trigger_id: "1.2.4",
        team,
        channel,
        message: { type: "message", ts: "1699999999.000100", text: "" },
        response_url: `${ACTION_URL}/a`,
        actions: [{ type: "button", action_id: "approve_step_v1", block_id: "step:2", value: "run_old:2", action_ts: "1700000001.000200" }],
      }),
    );
    expect(r.body).toBeNull();
    const said = (await eventually(() => actionReplies.find((a) => a.path.endsWith("/a"))))!;
    expect(said.body).toMatchObject({ response_type: "ephemeral", replace_original: false, text: expect.stringContaining("older belay message or another version") });
  });

  it("a legacy attachment button (interactive_message): acked empty, so the message stays, and answered through response_url", async () => {
    const r = await expectAcked(
      form({
        type: "interactive_message",
        actions: [{ name: "approve", type: "button", value: "yes" }],
        callback_id: "belay_approve_v0",
        team,
        channel,
        user: { id: "UALICE", name: "ualice" },
        action_ts: "1700000002.000300",
        message_ts: "1699999990.000100",
        attachment_id: "1",
        token: "legacy",
        is_app_unfurl: false,
        original_message: { type: "message", text: "Approve?", attachments: [{ callback_id: "belay_approve_v0", actions: [{ name: "approve", type: "button", text: "Approve", value: "yes" }] }] },
        response_url: `${ACTION_URL}/b`,
        trigger_id: "1.2.5",
      }),
    );
    expect(r.body).toBeNull();
    const said = (await eventually(() => actionReplies.find((a) => a.path.endsWith("/b"))))!;
    expect(said.body).toMatchObject({ response_type: "ephemeral", replace_original: false, text: expect.stringContaining("old-style attachment") });
  });

  it("a legacy dialog submission: acked, and answered through response_url", async () => {
    await expectAcked(
      form({ type: "dialog_submission", token: "legacy", action_ts: "1700000003.1", team, user, channel, submission: { target: "cache" }, callback_id: "belay_dialog_v0", response_url: `${ACTION_URL}/c`, state: "" }),
    );
    const said = (await eventually(() => actionReplies.find((a) => a.path.endsWith("/c"))))!;
    expect(said.body.text).toContain("dialog is from an older version");
  });

  it("a form with an unknown callback id is replaced by a notice, not left spinning", async () => {
    const r = await h.submit({ callback_id: "belay.run.params.v0", private_metadata: "", blocks: [], state: { values: {} } }, "UALICE");
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(3000);
    expect(r.body).toMatchObject({ response_action: "update", view: { type: "modal", title: { text: "belay" } } });
    expect(r.body.view.blocks[0].text.text).toContain("older version of belay");
  });

  it("a global shortcut opens a one-line notice; a message shortcut answers through response_url", async () => {
    await expectAcked(form({ type: "shortcut", token: "legacy", action_ts: "1700000004.1", team, user, callback_id: "belay_open", trigger_id: "1.2.6", is_enterprise_install: false }));
    const opened = (await eventually(() => slack.of("views.open").find((v) => v.trigger_id === "1.2.6")))!;
    expect(opened.view.blocks[0].text.text).toContain("belay has no shortcuts");
    await expectAcked(
      form({ type: "message_action", token: "legacy", action_ts: "1700000004.2", team, user, channel, callback_id: "belay_from_message", trigger_id: "1.2.7", message_ts: "1699999990.000200", message: { type: "message", ts: "1699999990.000200", text: "redis down" }, response_url: `${ACTION_URL}/d` }),
    );
    const said = (await eventually(() => actionReplies.find((a) => a.path.endsWith("/d"))))!;
    expect(said.body.text).toContain("belay has no shortcuts");
  });

  it("options requests (block_suggestion, dialog_suggestion) get an empty list", async () => {
    const block = await expectAcked(
      form({ type: "block_suggestion", user, container: { type: "message", message_ts: "1699999990.000300" }, api_app_id: "A0BELAY", token: "legacy", action_id: "pick_target", block_id: "b1", value: "ca", team, channel }),
    );
    expect(block.body).toEqual({ options: [] });
    const dialog = await expectAcked(form({ type: "dialog_suggestion", token: "legacy", action_ts: "1700000005.1", team, user, channel, name: "target", value: "ca", callback_id: "belay_dialog_v0", state: "" }));
    expect(dialog.body).toEqual({ options: [] });
  });

  it("a payload type Bolt cannot classify is still answered 200 before Slack gives up", async () => {
    const r = await expectAcked(form({ type: "workflow_step_edit", token: "legacy", action_ts: "1700000006.1", team, user, callback_id: "belay_step", trigger_id: "1.2.8", workflow_step: { workflow_id: "W1", step_id: "s1" } }));
    expect(r.body.text).toContain("could not handle this request in time");
  });

  it("a legacy button, dialog or options request from another team is refused and audited, not answered with help", async () => {
    // Before, only commands, block actions, forms and shortcuts were checked against the
    // installed team: the catch-all answered these through the foreign response_url.
    const foreign = { id: "T0FOREIGN", domain: "elsewhere" };
    const stranger = { id: "USTRANGER", name: "stranger" };
    await expectAcked(
      form({
        type: "interactive_message",
        actions: [{ name: "approve", type: "button", value: "yes" }],
        callback_id: "belay_approve_v0",
        team: foreign,
        channel,
        user: stranger,
        action_ts: "1700000007.1",
        message_ts: "1699999990.000400",
        attachment_id: "1",
        token: "legacy",
        original_message: { type: "message", text: "Approve?" },
        response_url: `${ACTION_URL}/foreign-legacy`,
        trigger_id: "1.2.9",
      }),
    );
    await expectAcked(
      form({ type: "dialog_submission", token: "legacy", action_ts: "1700000007.2", team: foreign, user: stranger, channel, submission: {}, callback_id: "belay_dialog_v0", response_url: `${ACTION_URL}/foreign-dialog`, state: "" }),
    );
    const options = await expectAcked(form({ type: "block_suggestion", user: { ...stranger, team_id: "T0FOREIGN" }, api_app_id: "A0BELAY", token: "legacy", action_id: "pick", block_id: "b1", value: "x", team: foreign, channel }));
    expect(options.body).toEqual({ options: [] });
    const refused = async () =>
      (await store.db.query<{ data: string | Record<string, unknown> }>(`SELECT data FROM audit_events WHERE kind = 'slack.request_refused'`)).rows.map((r) => (typeof r.data === "string" ? JSON.parse(r.data) : r.data).type);
    await eventually(async () => ((await refused()).length >= 3 ? true : undefined));
    expect((await refused()).sort()).toEqual(["block_suggestion", "dialog_submission", "interactive_message"]);
    const replies = actionReplies.filter((a) => a.path.includes("/foreign-"));
    expect(replies.map((a) => a.body.text).join(" ")).not.toMatch(/old-style|older version/);
  });
});
