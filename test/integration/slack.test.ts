import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../src/audit/chain.ts";
import { getApprovals, getRun, listRuns } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { ageApprovals, manualClock, personAt, testEngine } from "../helpers/engine.ts";
import { systemPrincipal } from "../../src/identity/index.ts";
import {
  buttonValue,
  cachePlaybook,
  CHANNEL,
  eventually,
  failingDb,
  fakeSlackApi,
  pingPlaybook,
  RESPONSE_URL,
  sign,
  slowDb,
  startSlack,
  type CacheState,
  type FakeSlack,
  type SlackHarness,
} from "../helpers/slack.ts";

let store: TestStore;
let slack: FakeSlack;
let h: SlackHarness;
const state: CacheState = { policy: "noeviction", restarts: 0, verifyOk: true };
const playbooks = () => [cachePlaybook(state), pingPlaybook];

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
  store = await openTestStore("pglite", "slack");
});
afterAll(async () => {
  await store.close();
  nock.enableNetConnect();
});
afterEach(() => {
  state.policy = "noeviction";
  state.restarts = 0;
  state.verifyOk = true;
});

const textOf = (m: { blocks?: any[] } | undefined) =>
  (m?.blocks ?? []).map((b) => b.text?.text ?? b.elements?.map((e: any) => e.text?.text ?? e.text ?? "").join(" ") ?? "").join("\n");

/** `/runbook run ...`, then wait until the proposal parks at an act step; its run id and message ts. */
async function propose(text: string, user = "UALICE"): Promise<{ runId: string; ts: string }> {
  const before = slack.posted().length;
  const res = await h.command(text, user);
  expect(res.status).toBe(200);
  await eventually(() => slack.posted().length > before);
  const ts = slack.posted()[before]!.ts;
  const runId = /Run `(run_[a-z0-9]+)`/.exec(textOf(slack.posted()[before]))![1]!;
  await eventually(() => buttonValue(slack.latest(ts)!.blocks, "belay.approve") !== undefined);
  return { runId, ts };
}

const approveButton = (ts: string) => buttonValue(slack.latest(ts)!.blocks, "belay.approve")!;
const ephemerals = () => slack.of("chat.postEphemeral");

async function runStatus(runId: string): Promise<string> {
  return (await getRun(store.db, runId))!.status;
}

describe("transport", () => {
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({ db: store.db, playbooks: playbooks() });
  });
  afterAll(async () => {
    await h.close();
    slack.done();
  });

  it("calls auth.test once at start", () => {
    expect(slack.of("auth.test")).toHaveLength(1);
  });

  it("answers 401 to a bad signature and to a stale timestamp, and runs nothing", async () => {
    const body = new URLSearchParams({ command: "/runbook", text: "run ping", user_id: "UALICE", channel_id: CHANNEL, team_id: "T0001", response_url: RESPONSE_URL, trigger_id: "t" }).toString();
    expect((await h.post(body, { ...sign(body), "x-slack-signature": `v0=${"0".repeat(64)}` })).status).toBe(401);
    expect((await h.post(body, sign(body, undefined, "not-the-secret"))).status).toBe(401);
    expect((await h.post(body, sign(body, Math.floor(Date.now() / 1000) - 6 * 60))).status).toBe(401);
    expect(await listRuns(store.db, { limit: 5 })).toEqual([]);
  });
});

describe("slash commands", () => {
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({ db: store.db, playbooks: playbooks() });
  });
  afterAll(async () => {
    await h.close();
    slack.done();
  });

  it("help answers with a short help, and other text is matched, in the ack", async () => {
    const help = await h.command("help");
    expect(help.status).toBe(200);
    expect(help.body.response_type).toBe("ephemeral");
    expect(help.body.text).toContain("`/runbook run <playbook> [key=value ...] [incident=<id>]`");
    // Text that is no subcommand is alert text to match; a one-word near miss asks what was meant.
    const unknown = await h.command("restart everything now");
    expect(unknown.body.text).toBe('No playbook fits "restart everything now".');
    expect((await h.command("stats")).body.text.split("\n")[0]).toBe("`stats` is not a subcommand (did you mean `/runbook status`?), so it was matched as alert text:");
    expect((await h.command("RedisOutOfConfiguredMaxmemory instance=cache-1")).body.text).toBe("1 playbook(s) fit; best cache-fix");
    const empty = await h.command("");
    expect(empty.body.text).toContain("`/runbook list [query]`");
  });

  it("list [query] and show <playbook>", async () => {
    const all = await h.command("list");
    expect(all.body.text).toBe("2 playbook(s)");
    expect(textOf(all.body)).toContain("`cache-fix` Cache refuses writes: evict instead · up to :red_circle: high risk");
    expect(textOf(all.body)).toContain("`ping` Ping · read-only");
    const some = await h.command("list evict");
    expect(textOf(some.body)).not.toContain("`ping`");
    expect((await h.command("list nothing-like-this")).body.text).toBe('No playbook matches "nothing-like-this". Try `list` without a query.');
    const show = await h.command("show cache-fix");
    const shown = textOf(show.body);
    expect(shown).toContain("2. *set-policy* · act · :large_yellow_circle: medium risk _(rollback)_");
    expect(shown).toContain("3. *restart-writer* · act · :red_circle: high risk _(irreversible: a restart cannot be undone; repeating it is harmless)_");
    expect(shown).toContain("`replicas` integer *required*");
    expect(shown).toContain("`mode` enum (allkeys-lru | allkeys-lfu) default `\"allkeys-lru\"`");
    expect((await h.command("show cache")).body.text).toContain("No playbook `cache`. Did you mean `cache-fix`?");
  });

  it("match <text> names the failure mode and ranks playbooks with reasons", async () => {
    const byName = await h.command("match RedisOutOfConfiguredMaxmemory instance=cache-1");
    expect(byName.body.text).toBe("1 playbook(s) fit; best cache-fix");
    expect(textOf(byName.body)).toContain("*Failure mode* `redis-maxmemory`");
    expect(textOf(byName.body)).toMatch(/1\. `cache-fix` score \d\.\d\d/);
    const free = await h.command("match redis OOM command not allowed when used memory > maxmemory");
    expect(textOf(free.body)).toContain("`redis-maxmemory`");
    const none = await h.command("match the coffee machine is empty");
    expect(none.body.text).toBe('No playbook fits "the coffee machine is empty".');
  });

  it("run with valid params proposes, posts the plan in the channel and parks at the act step", async () => {
    const res = await h.command("run cache-fix replicas=3 mode=allkeys-lfu");
    expect(res.body).toEqual({ response_type: "ephemeral", text: "Proposing `cache-fix` here…" });
    await eventually(() => slack.posted().length === 1);
    const post = slack.posted()[0]!;
    expect(post.channel).toBe(CHANNEL);
    expect(post.unfurl_links).toBe("false");
    expect(post.thread_ts).toBeUndefined();
    const runId = (await listRuns(store.db, { limit: 1 }))[0]!.id;
    expect(post.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "Cache refuses writes: evict instead", emoji: true } });
    expect(textOf(post)).toContain(`Run \`${runId}\` of \`cache-fix\` · requested by <@UALICE> via slack`);
    await eventually(() => buttonValue(slack.latest(post.ts)!.blocks, "belay.approve"));
    const m = slack.latest(post.ts)!;
    const text = textOf(m);
    expect(m.text).toBe(`Cache refuses writes: evict instead: run ${runId} awaiting approval (step set-policy (medium risk) needs 1 more approval)`);
    expect(text).toContain("*Diagnostics*");
    expect(text).toContain("*read-memory*\n```policy: noeviction\nusedMb: 512```");
    expect(text).toContain(":raised_hand: *2. set-policy* · act · :large_yellow_circle: medium risk · _awaiting approval_\n```maxmemory-policy noeviction -> allkeys-lfu```\nNeeds 0 of 1 approval");
    expect(text).toContain(":white_circle: *3. restart-writer* · act · :red_circle: high risk · _pending_");
    const actions = m.blocks.find((b) => b.type === "actions");
    expect(actions.block_id).toBe("run:1");
    expect(actions.elements.map((e: any) => [e.text.text, e.action_id, e.style ?? null])).toEqual([
      ["Approve", "belay.approve.1", "primary"],
      ["Skip", "belay.skip.1", null],
      ["Abort run", "belay.abort.1", "danger"],
    ]);
    for (const e of actions.elements) expect(e.value).toMatch(/^bt_[A-Za-z0-9_-]{22}$/); // opaque: no run, step or hash in it
    expect(actions.elements.some((e: any) => e.value.includes(runId))).toBe(false);
  });

  it("run with missing params opens a modal built from the schema; a bad value comes back on its field; a good one proposes", async () => {
    slack.clear();
    const res = await h.command("run cache-fix mode=allkeys-lfu");
    expect(res.status).toBe(200);
    expect(res.body).toBe(null); // an empty ack: the form opens instead
    await eventually(() => slack.of("views.open").length === 1);
    const opened = slack.of("views.open")[0]!;
    expect(opened.trigger_id).toBe("13345224609.738474920.8088930838d88f008e0");
    const view = opened.view;
    expect(view.callback_id).toBe("belay.run.params");
    expect(JSON.parse(view.private_metadata)).toEqual({ playbook: "cache-fix", channel: CHANNEL, threadTs: null, incident: null });
    expect(view.blocks[1]).toEqual({ type: "context", elements: [{ type: "mrkdwn", text: ":warning: `replicas`: replicas is required (number)" }] });
    expect(view.blocks.slice(2)).toEqual([
      { type: "input", block_id: "param:redis", optional: true, label: { type: "plain_text", text: "redis" }, element: { type: "plain_text_input", action_id: "value", initial_value: "cache" } },
      {
        type: "input",
        block_id: "param:mode",
        optional: true,
        label: { type: "plain_text", text: "mode" },
        element: {
          type: "static_select",
          action_id: "value",
          options: [
            { text: { type: "plain_text", text: "allkeys-lru" }, value: "allkeys-lru" },
            { text: { type: "plain_text", text: "allkeys-lfu" }, value: "allkeys-lfu" },
          ],
          initial_option: { text: { type: "plain_text", text: "allkeys-lfu" }, value: "allkeys-lfu" },
        },
      },
      { type: "input", block_id: "param:replicas", optional: false, label: { type: "plain_text", text: "replicas" }, element: { type: "number_input", action_id: "value", is_decimal_allowed: false } },
    ]);
    const values = (replicas: string) => ({
      "param:redis": { value: { type: "plain_text_input", value: "cache" } },
      "param:mode": { value: { type: "static_select", selected_option: { value: "allkeys-lfu" } } },
      "param:replicas": { value: { type: "number_input", value: replicas } },
    });
    const bad = await h.submit({ callback_id: view.callback_id, private_metadata: view.private_metadata, blocks: view.blocks, state: { values: values("40") } }, "UALICE");
    expect(bad.status).toBe(200);
    expect(bad.body).toEqual({ response_action: "errors", errors: { "param:replicas": "replicas must be at most 10 (got 40)" } });
    expect(slack.posted()).toHaveLength(0);
    const good = await h.submit({ callback_id: view.callback_id, private_metadata: view.private_metadata, blocks: view.blocks, state: { values: values("4") } }, "UALICE");
    expect(good.status).toBe(200);
    expect(good.body).toBe(null);
    await eventually(() => slack.posted().length === 1);
    const run = (await listRuns(store.db, { limit: 1 }))[0]!;
    expect(run.params).toEqual({ redis: "cache", mode: "allkeys-lfu", replicas: 4 });
    expect(run.requestedBy).toBe("UALICE");
  });

  it("status, history, audit and abort answer through response_url after an empty ack", async () => {
    slack.clear();
    const { runId } = await propose("run cache-fix replicas=2");
    const status = await h.command(`status ${runId}`);
    expect(status.body).toBe(null);
    await eventually(() => slack.responses.length === 1);
    expect(slack.responses[0]!.body.text).toBe(`Run ${runId}: awaiting_approval`);
    expect(textOf(slack.responses[0]!.body)).toContain(":white_check_mark: 1. read-memory · diagnose · succeeded");

    await h.command("status");
    await eventually(() => slack.responses.length === 2);
    const inProgress = await listRuns(store.db, { limit: 20, statuses: ["pending", "running", "waiting", "awaiting_approval", "awaiting_decision"] });
    expect(inProgress.length).toBeGreaterThanOrEqual(2);
    expect(slack.responses[1]!.body.text).toBe(`Runs in progress: ${inProgress.length}`);

    await h.command("history 2");
    await eventually(() => slack.responses.length === 3);
    expect(slack.responses[2]!.body.text).toBe("Last 2 runs: 2");
    expect(textOf(slack.responses[2]!.body)).toContain(`\`${runId}\` cache-fix · awaiting approval · <@UALICE>`);

    await h.command(`audit ${runId}`);
    await eventually(() => slack.responses.length === 4);
    expect(slack.responses[3]!.body.text).toMatch(new RegExp(`^Timeline of ${runId}: \\d+ events$`));
    expect(textOf(slack.responses[3]!.body)).toContain("UALICE (slack) run.proposed proposed cache-fix");

    await h.command("audit inc_nothing");
    await eventually(() => slack.responses.length === 5);
    expect(slack.responses[4]!.body.text).toBe("No audit events for inc_nothing. Run and incident ids look like `run_…` and `inc_…`.");

    await h.command(`abort ${runId} wrong cache`, "UALICE");
    await eventually(() => slack.responses.length === 6);
    expect(slack.responses[5]!.body).toEqual({ response_type: "ephemeral", text: `:no_entry: run ${runId} aborted by UALICE: wrong cache` });
    expect(await runStatus(runId)).toBe("aborted");
    await eventually(() => textOf(slack.latest(slack.posted().at(-1)!.ts)).includes(":no_entry: *aborted, nothing changed*"));
    expect(buttonValue(slack.latest(slack.posted().at(-1)!.ts)!.blocks, "belay.")).toBeUndefined();

    await h.command("history fifty");
    expect((await h.command("history fifty")).body.text.split("\n")[0]).toBe("`history fifty`: give a whole number from 1 to 50.");
    await h.command("abort run_doesnotexist");
    await eventually(() => slack.responses.length === 7);
    expect(slack.responses[6]!.body.text).toBe(":warning: no run run_doesnotexist; list runs with `belay runs` or /runbook history");
  });
});

describe("approvals in the room", () => {
  beforeAll(async () => {
    slack = fakeSlackApi({ usergroups: { S0SRE: ["USRE1", "USRE2"] } });
    h = await startSlack({
      db: store.db,
      playbooks: playbooks(),
      policy: { risks: { medium: { users: ["UBOB", "UALICE"], groups: [], required: 1, requesterMayApprove: true }, high: { users: ["UBOB", "UCAROL", "UALICE"], groups: ["sre"], required: 2, requesterMayApprove: false } } },
      settings: { usergroups: { sre: "S0SRE" } },
    });
  });
  afterAll(async () => {
    await h.close();
    slack.done();
  });

  it("approve -> the step runs -> the message is updated in place; then two people approve the high-risk step", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3");
    slack.clear();
    const click = await h.click(approveButton(ts), "UBOB", "belay.approve.1");
    expect(click.status).toBe(200);
    expect(click.body).toBe(null);
    await eventually(() => textOf(slack.latest(ts)).includes(":white_check_mark: *2. set-policy*"));
    expect(state.policy).toBe("allkeys-lru");
    const after = textOf(slack.latest(ts));
    expect(after).toContain("Approved by <@UBOB> at");
    expect(after).toContain(":mag: verify ok: policy=allkeys-lru");
    await eventually(() => textOf(slack.latest(ts)).includes(":raised_hand: *3. restart-writer*"));
    expect(slack.of("chat.postMessage")).toHaveLength(0); // updated in place, never posted again
    expect(slack.of("chat.update").every((u) => u.channel === CHANNEL && u.ts === ts)).toBe(true);

    // High risk: two distinct approvers, one of them through the Slack user group.
    await h.click(approveButton(ts), "USRE1", "belay.approve.2");
    await eventually(() => textOf(slack.latest(ts)).includes("1 of 2 approvals"));
    expect(state.restarts).toBe(0);
    expect(slack.of("usergroups.users.list")).toEqual([{ usergroup: "S0SRE" }]);
    await h.click(approveButton(ts), "UCAROL", "belay.approve.2");
    await eventually(async () => (await runStatus(runId)) === "succeeded");
    expect(state.restarts).toBe(1);
    await eventually(() => textOf(slack.latest(ts)).includes(":white_check_mark: *changed and verified*"));
    const final = slack.latest(ts)!;
    expect(textOf(final)).toMatch(/Approved by <@USRE1> at \d\d:\d\d UTC, <@UCAROL> at \d\d:\d\d UTC · 2 of 2 approvals/);
    expect(final.blocks.some((b) => b.type === "actions")).toBe(false);
    expect(slack.of("usergroups.users.list")).toHaveLength(1); // cached
    expect(ephemerals()).toEqual([]);
  });

  it("refuses self-approval and non-approvers with an ephemeral explanation, audited", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3", "UALICE");
    slack.clear();
    await h.click(approveButton(ts), "UMALLORY", "belay.approve.1");
    await eventually(() => ephemerals().length === 1);
    expect(ephemerals()[0]).toEqual({
      channel: CHANNEL,
      user: "UMALLORY",
      text: ":no_entry_sign: Not approved: UMALLORY may not approve medium-risk steps; approvers are user UBOB, user UALICE",
    });
    await h.click(approveButton(ts), "UALICE", "belay.approve.1"); // medium: the requester may approve
    await eventually(() => textOf(slack.latest(ts)).includes(":raised_hand: *3. restart-writer*"));
    await h.click(approveButton(ts), "UALICE", "belay.approve.2"); // high: never the requester
    await eventually(() => ephemerals().length === 2);
    expect(ephemerals()[1]).toEqual({
      channel: CHANNEL,
      user: "UALICE",
      text: ":no_entry_sign: Not approved: UALICE asked for this run and may not approve its high-risk steps; ask another approver",
    });
    const refused = (await eventsForRun(store.db, runId)).filter((e) => e.kind === "approval.refused");
    expect(refused.map((e) => [e.actor, e.surface, e.data.code])).toEqual([
      ["UMALLORY", "slack", "not_an_approver"],
      ["UALICE", "slack", "self_approval"],
    ]);
    expect(state.restarts).toBe(0);
    await h.command(`abort ${runId}`, "UBOB");
    await eventually(async () => (await runStatus(runId)) === "aborted");
  });

  it("refuses forged and replayed button values; a double click approves once", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3");
    slack.clear();
    await h.click("bt_AAAAAAAAAAAAAAAAAAAAAA", "UBOB", "belay.approve.1");
    await h.click(`${runId}|1|approve`, "UBOB", "belay.approve.1");
    await eventually(() => ephemerals().length === 2);
    expect(ephemerals().map((e) => e.text)).toEqual([
      ":no_entry_sign: That button was not issued by belay (or was tampered with); nothing was done.",
      ":no_entry_sign: That button was not issued by belay (or was tampered with); nothing was done.",
    ]);
    // A real token under another button's action id is tampering too.
    await h.click(buttonValue(slack.latest(ts)!.blocks, "belay.skip")!, "UBOB", "belay.approve.1");
    await eventually(() => ephemerals().length === 3);
    expect(ephemerals()[2]!.text).toBe(":no_entry_sign: That button was tampered with; nothing was done.");
    expect(await getApprovals(store.db, runId)).toEqual([]);

    // Double click: two identical clicks at once.
    const value = approveButton(ts);
    const [a, b] = await Promise.all([h.click(value, "UBOB", "belay.approve.1"), h.click(value, "UBOB", "belay.approve.1")]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await eventually(() => ephemerals().length === 4);
    expect(ephemerals()[3]).toEqual({ channel: CHANNEL, user: "UBOB", text: ":information_source: You already clicked this; it counts once." });
    await eventually(() => textOf(slack.latest(ts)).includes(":raised_hand: *3. restart-writer*"));
    expect((await getApprovals(store.db, runId)).map((x) => x.actor)).toEqual(["UBOB"]);

    // Replay: the same signed request again, later.
    await h.click(value, "UBOB", "belay.approve.1");
    await eventually(() => ephemerals().length === 5);
    expect(ephemerals()[4]!.text).toBe(":information_source: You already clicked this; it counts once.");
    const refusals = (await eventsForRun(store.db, runId)).filter((e) => e.kind === "approval.refused").map((e) => e.data.code);
    expect(refusals).toEqual(["forged_button", "replayed", "replayed"]);
    await h.command(`abort ${runId}`, "UBOB");
    await eventually(async () => (await runStatus(runId)) === "aborted");
  });
});

describe("expiry", () => {
  const clock = manualClock(new Date());
  /** Time passes: for this process's clock, and for what the database judges by its own (approvals, buttons, their uses). */
  async function passTime(ms: number): Promise<void> {
    clock.advance(ms);
    await ageApprovals(store.db, ms);
    await store.db.query(
      `UPDATE slack_action_tokens SET created_at = created_at - $1 * interval '1 millisecond', expires_at = expires_at - $1 * interval '1 millisecond'`,
      [ms],
    );
    await store.db.query(`UPDATE slack_action_uses SET used_at = used_at - $1 * interval '1 millisecond'`, [ms]);
  }
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({
      db: store.db,
      playbooks: playbooks(),
      clock: clock.now,
      policy: { expiresAfterSeconds: 600 },
      settings: { buttonTtlMs: 3600_000 },
    });
  });
  afterAll(async () => {
    await h.close();
    slack.done();
  });

  it("an approval that expired no longer counts toward two; expired buttons are refused and replaced", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3", "UALICE");
    await h.click(approveButton(ts), "UBOB", "belay.approve.1");
    await eventually(() => textOf(slack.latest(ts)).includes(":raised_hand: *3. restart-writer*"));
    await h.click(approveButton(ts), "UBOB", "belay.approve.2");
    await eventually(() => textOf(slack.latest(ts)).includes("1 of 2 approvals"));
    await passTime(11 * 60_000); // Bob's approval is 11 minutes old: expired
    await h.click(approveButton(ts), "UCAROL", "belay.approve.2");
    await eventually(() => textOf(slack.latest(ts)).includes("<@UCAROL> at"));
    expect(textOf(slack.latest(ts))).toMatch(/~<@UBOB> \d\d:\d\d UTC~ \(expired at [^)]+\), <@UCAROL> at \d\d:\d\d UTC · 1 of 2 approvals/);
    expect(state.restarts).toBe(0);
    expect(await runStatus(runId)).toBe("awaiting_approval");

    slack.clear();
    const stale = approveButton(ts);
    await passTime(3600_000); // the buttons themselves are older than their hour
    await h.click(stale, "UDAVE", "belay.approve.2");
    await eventually(() => ephemerals().length === 1 && slack.of("chat.update").length > 0);
    expect(ephemerals()[0]!.text).toBe(":hourglass: These buttons have expired; the message now has fresh ones. Review it and click again.");
    const fresh = approveButton(ts);
    expect(fresh).not.toBe(stale);
    await h.click(fresh, "UDAVE", "belay.approve.2");
    await eventually(() => textOf(slack.latest(ts)).includes("1 of 2 approvals") && textOf(slack.latest(ts)).includes("<@UDAVE>"));
    await h.command(`abort ${runId}`, "UALICE");
    await eventually(async () => (await runStatus(runId)) === "aborted");
  });

  it("an approval that expired can be given again by the same person, with the same button", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3", "UALICE");
    await h.click(approveButton(ts), "UBOB", "belay.approve.1");
    await eventually(() => textOf(slack.latest(ts)).includes(":raised_hand: *3. restart-writer*"));
    const high = approveButton(ts);
    await h.click(high, "UBOB", "belay.approve.2");
    await eventually(() => textOf(slack.latest(ts)).includes("1 of 2 approvals"));
    await passTime(11 * 60_000); // Bob's approval has expired; the button (an hour) has not
    slack.clear();
    await h.click(high, "UBOB", "belay.approve.2");
    await eventually(async () => (await getApprovals(store.db, runId, 2)).some((a) => a.actor === "UBOB" && a.expiresAt > new Date()));
    await h.settled();
    expect(ephemerals()).toEqual([]);
    expect(textOf(slack.latest(ts))).toMatch(/Approved by <@UBOB> at \d\d:\d\d UTC · 1 of 2 approvals/);
    // Bob's renewed approval counts: Carol's makes two and the step runs.
    await h.click(high, "UCAROL", "belay.approve.2");
    await eventually(async () => (await runStatus(runId)) === "succeeded");
    expect(state.restarts).toBe(1);
  });
});

describe("Slack failing", () => {
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({ db: store.db, playbooks: playbooks() });
  });
  afterAll(async () => {
    await h.close();
    slack.done();
  });

  it("waits out a 429 per Retry-After and retries a 500: the last state lands, nothing is posted twice", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3");
    slack.clear();
    slack.fail("chat.update", { status: 429, headers: { "retry-after": "1" } }, { status: 500 }, { status: 503 });
    const started = Date.now();
    await h.click(approveButton(ts), "UBOB", "belay.approve.1");
    await eventually(async () => (await runStatus(runId)) === "awaiting_approval" && state.policy === "allkeys-lru");
    await eventually(() => textOf(slack.latest(ts)).includes(":raised_hand: *3. restart-writer*") && slack.of("chat.update").length >= 4, 8_000);
    await h.settled();
    const updates = slack.calls.filter((c) => c.method === "chat.update");
    expect(updates.length).toBeGreaterThanOrEqual(4); // 429, 500, 503, then success
    const afterRateLimit = updates[1]!;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(afterRateLimit.body.ts).toBe(ts);
    expect(slack.of("chat.postMessage")).toHaveLength(0);
    expect(textOf(slack.latest(ts))).toContain("Approved by <@UBOB>");
    await h.command(`abort ${runId}`, "UBOB");
    await eventually(async () => (await runStatus(runId)) === "aborted");
  });

  it("a 500 to the first post is retried once the API answers, and the message is posted exactly once", async () => {
    slack.clear();
    slack.fail("chat.postMessage", { status: 500 }, { status: 429, headers: { "retry-after": "1" } });
    await h.command("run ping");
    // The run's message is posted first (the notify step's note waits for its ts); the note may follow within one poll.
    await eventually(() => slack.posted().length >= 1, 8_000);
    // From the message, not the newest run: the expiry tests moved their clock into the future.
    const runId = /Run `(run_[a-z0-9]+)`/.exec(textOf(slack.posted()[0]))![1]!;
    await eventually(async () => (await runStatus(runId)) === "succeeded");
    await h.settled();
    const ts = slack.posted()[0]!.ts;
    // ping changes nothing: it is never shown as a green fix.
    await eventually(() => textOf(slack.latest(ts)).includes(":mag: *diagnosed only, nothing changed*"));
    expect(slack.of("chat.postMessage").filter((b) => b.text?.startsWith("Ping:"))).toHaveLength(3); // 500, 429, posted
    expect(slack.posted().filter((b) => b.text?.startsWith("Ping:"))).toHaveLength(1);
    // The notify step went into the run's thread.
    await eventually(() => slack.posted().some((p) => p.thread_ts === ts));
    expect(slack.posted().find((p) => p.thread_ts === ts)!.text).toBe(`:speech_balloon: \`${runId}\`: all quiet`);
    // Every run this surface showed has finished: once the harness's 300 ms have passed it keeps nothing about them.
    await h.settled();
    await new Promise((r) => setTimeout(r, 350));
    expect(h.surface.tracked()).toEqual({ runs: 0, messages: 0 });
  });
});

describe("another process changing runs (belay abort in a terminal, another replica)", () => {
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({ db: store.db, playbooks: playbooks() });
  });
  afterAll(async () => {
    await h.close();
    slack.done();
  });

  it("a run aborted by another process is shown aborted, without its buttons", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3");
    // Its own engine: its events never reach this surface's onEvents, as with `belay abort` in a terminal.
    const { engine: other } = testEngine({ db: store.db, playbooks: playbooks() });
    const r = await other.decide({ kind: "abort", runId, actor: personAt("UBOB", "slack"), reason: "Slack was down" });
    expect(r.accepted).toBe(true);
    await eventually(() => textOf(slack.latest(ts)).includes(":no_entry: *aborted, nothing changed*"));
    expect(buttonValue(slack.latest(ts)!.blocks, "belay.")).toBeUndefined();
    expect(slack.of("chat.postMessage")).toHaveLength(1);
  });
});

describe("the store failing during a click", () => {
  let failApprovals = false;
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({ db: failingDb(store.db, (sql) => failApprovals && sql.includes("INSERT INTO approvals")), playbooks: playbooks() });
  });
  afterAll(async () => {
    failApprovals = false;
    await h.close();
    slack.done();
  });

  it("tells the clicker nothing was done, and the same button works once the store is back", async () => {
    const { runId, ts } = await propose("run cache-fix replicas=3");
    slack.clear();
    failApprovals = true;
    await h.click(approveButton(ts), "UBOB", "belay.approve.1");
    await eventually(() => ephemerals().length === 1);
    expect(ephemerals()[0]).toEqual({
      channel: CHANNEL,
      user: "UBOB",
      text: ":warning: Not approved: belay could not record it (Connection terminated unexpectedly); nothing was done. Click again in a moment.",
    });
    expect(await getApprovals(store.db, runId)).toEqual([]);
    failApprovals = false;
    await h.click(approveButton(ts), "UBOB", "belay.approve.1");
    await eventually(() => textOf(slack.latest(ts)).includes(":raised_hand: *3. restart-writer*"));
    expect((await getApprovals(store.db, runId)).map((a) => a.actor)).toEqual(["UBOB"]);
    expect(ephemerals()).toHaveLength(1);
    await h.command(`abort ${runId}`, "UBOB");
    await eventually(async () => (await runStatus(runId)) === "aborted");
  });
});

describe("a slow store", () => {
  let delay = 0;
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({ db: slowDb(store.db, () => delay), playbooks: playbooks() });
  });
  afterAll(async () => {
    delay = 0;
    await h.close();
    slack.done();
  });

  it("acks commands and clicks well inside 3 s while every query takes 4 s", async () => {
    const { ts } = await propose("run cache-fix replicas=3");
    const value = approveButton(ts);
    delay = 4_000;
    const acks = await Promise.all([h.command("status"), h.command("run cache-fix replicas=2"), h.command("history"), h.click(value, "UBOB", "belay.approve.1")]);
    for (const a of acks) {
      expect(a.status).toBe(200);
      expect(a.ms).toBeLessThan(1_000);
    }
    delay = 0;
    await h.settled();
    for (const r of await listRuns(store.db, { limit: 50, statuses: ["pending", "running", "waiting", "awaiting_approval", "awaiting_decision"] })) {
      await h.engine.decide({ kind: "abort", runId: r.id, actor: personAt("UALICE", "slack") });
    }
  }, 30_000);
});

describe("incident threads (the IncidentNotifier ingestion calls)", () => {
  beforeAll(async () => {
    slack = fakeSlackApi();
    h = await startSlack({ db: store.db, playbooks: playbooks() });
  });
  afterAll(async () => {
    await h.close();
    slack.done();
  });

  it("postTriage posts the incident root, then the proposal in its thread; postResolved updates both; the PagerDuty hook gets its click", async () => {
    const acked: unknown[] = [];
    h.surface.registerAction("pagerduty.acknowledge", async (input) => {
      acked.push(input);
      return "Acknowledged in PagerDuty.";
    });
    const now = new Date();
    await store.db.query(`INSERT INTO incidents (id, title, service, created_at, updated_at) VALUES ('inc_cache1', 'Cache refuses writes', 'checkout', $1, $1)`, [now]);
    const { runId } = await h.engine.propose({ playbookId: "cache-fix", params: { replicas: 2 }, requestedBy: "belay", surface: "alertmanager", incidentId: "inc_cache1" });
    const alert = {
      source: "alertmanager" as const,
      fingerprint: "f1",
      status: "firing" as const,
      title: "RedisOutOfConfiguredMaxmemory",
      service: "checkout",
      severity: "critical" as const,
      labels: { alertname: "RedisOutOfConfiguredMaxmemory" },
      annotations: {},
      links: [],
      startsAt: null,
      endsAt: null,
      groupKey: "g1",
      externalId: null,
      drill: false,
    };
    const report = {
      incident: { id: "inc_cache1", title: "Cache refuses writes", service: "checkout", drill: false, pagerdutyIncidentId: "PD123" },
      alerts: [alert],
      failureMode: "redis-maxmemory",
      reasons: ["alertname RedisOutOfConfiguredMaxmemory"],
      candidates: [{ playbook: "cache-fix", score: 0.9, reasons: ["alertname RedisOutOfConfiguredMaxmemory"] }],
      runId,
      closest: [],
    };
    const thread = await h.surface.notifier.postTriage(report);
    const root = slack.posted().find((p) => p.text === "Cache refuses writes (incident inc_cache1)")!;
    expect(thread).toEqual({ channel: CHANNEL, ts: root.ts });
    expect(root.channel).toBe(CHANNEL);
    expect(root.text).toBe("Cache refuses writes (incident inc_cache1)");
    expect(textOf(root)).toContain("*Failure mode* `redis-maxmemory`\n• alertname RedisOutOfConfiguredMaxmemory");
    expect(textOf(root)).toContain("1. `cache-fix` 0.90 — alertname RedisOutOfConfiguredMaxmemory");
    await eventually(() => slack.posted().some((p) => p.thread_ts === root.ts));
    const proposal = slack.posted().find((p) => p.thread_ts === root.ts)!;
    expect(proposal.channel).toBe(CHANNEL);
    await eventually(() => buttonValue(slack.latest(proposal.ts)!.blocks, "belay.approve"));
    expect(textOf(slack.latest(proposal.ts))).toContain(":rotating_light: *Incident* Cache refuses writes (`inc_cache1`, service checkout)\n*Alert* RedisOutOfConfiguredMaxmemory (alertmanager)");

    // Asked twice (a retried webhook): nothing is posted again.
    await h.surface.notifier.postTriage(report);
    await h.settled();
    expect(slack.posted().filter((p) => p.ts === root.ts || p.thread_ts === root.ts)).toHaveLength(2);

    await h.click(buttonValue(root.blocks, "belay.pagerduty.acknowledge")!, "UBOB", "belay.pagerduty.acknowledge");
    await eventually(() => ephemerals().length === 1);
    expect(acked).toEqual([
      {
        action: "pagerduty.acknowledge",
        incidentId: "inc_cache1",
        runId: null,
        userId: "UBOB",
        principal: expect.objectContaining({ person: "UBOB", surface: "slack", auth: { method: "slack", userId: "UBOB", teamId: "T0001", enterpriseId: null } }),
        channel: CHANNEL,
      },
    ]);
    expect(ephemerals()[0]).toEqual({ channel: CHANNEL, user: "UBOB", text: "Acknowledged in PagerDuty." });

    await h.engine.decide({ kind: "abort", runId, actor: systemPrincipal("alertmanager"), reason: "all alerts resolved" });
    await h.surface.notifier.postResolved(report.incident, [runId]);
    await eventually(() => slack.posted().filter((p) => p.thread_ts === root.ts).length === 2);
    expect(slack.posted().filter((p) => p.thread_ts === root.ts)[1]).toMatchObject({ channel: CHANNEL, thread_ts: root.ts, text: `:white_check_mark: All alerts of *Cache refuses writes* resolved. Proposals withdrawn: \`${runId}\`.` });
    await eventually(() => slack.latest(root.ts)!.text === "Resolved: Cache refuses writes (incident inc_cache1)");
    expect(buttonValue(slack.latest(root.ts)!.blocks, "belay.")).toBeUndefined();
    await eventually(() => textOf(slack.latest(proposal.ts)).includes(":no_entry: *aborted, nothing changed*"));
  });
});
