import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getApprovals, getRun } from "../../src/store/runs.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { buttonValue, cachePlaybook, eventually, fakeSlackApi, startSlack, type CacheState, type FakeSlack, type SlackHarness } from "../helpers/slack.ts";

/** The click paths again on a real Postgres: many requests at once, one approval each. */
describe("Slack approvals on Postgres", () => {
  let store: TestStore;
  let slack: FakeSlack;
  let h: SlackHarness;
  const state: CacheState = { policy: "noeviction", restarts: 0, verifyOk: true };

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
    store = await openTestStore("pg", "slack");
    slack = fakeSlackApi();
    h = await startSlack({ db: store.db, playbooks: [cachePlaybook(state)] });
  });
  afterAll(async () => {
    await h?.close();
    slack?.done();
    await store?.close();
    nock.enableNetConnect();
  });

  it("ten simultaneous clicks by one person and two by others: each person counts once, the high-risk step runs once", async () => {
    await h.command("run cache-fix replicas=3", "UALICE");
    await eventually(() => slack.posted().length === 1);
    const { ts } = slack.posted()[0]!;
    const runId = /Run `(run_[a-z0-9]+)`/.exec(JSON.stringify(slack.posted()[0]!.blocks))![1]!;
    await eventually(() => buttonValue(slack.latest(ts)!.blocks, "belay.approve.1"));
    const medium = buttonValue(slack.latest(ts)!.blocks, "belay.approve.1")!;
    const acks = await Promise.all(Array.from({ length: 10 }, () => h.click(medium, "UBOB", "belay.approve.1")));
    expect(acks.every((a) => a.status === 200)).toBe(true);
    await eventually(() => buttonValue(slack.latest(ts)!.blocks, "belay.approve.2"));
    expect((await getApprovals(store.db, runId, 1)).map((a) => a.actor)).toEqual(["UBOB"]);
    await eventually(() => slack.of("chat.postEphemeral").length === 9);
    expect(new Set(slack.of("chat.postEphemeral").map((e) => e.text))).toEqual(new Set([":information_source: You already clicked this; it counts once."]));

    const high = buttonValue(slack.latest(ts)!.blocks, "belay.approve.2")!;
    await Promise.all([h.click(high, "UBOB", "belay.approve.2"), h.click(high, "UCAROL", "belay.approve.2"), h.click(high, "UBOB", "belay.approve.2")]);
    await eventually(async () => (await getRun(store.db, runId))!.status === "succeeded");
    expect(state.restarts).toBe(1);
    expect((await getApprovals(store.db, runId, 2)).map((a) => a.actor).sort()).toEqual(["UBOB", "UCAROL"]);
    await eventually(() => JSON.stringify(slack.latest(ts)!.blocks).includes(":white_check_mark: *changed and verified*"));
    expect(slack.of("chat.postMessage")).toHaveLength(1);
  });
});
