import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ActionTokens } from "../../src/slack/tokens.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

/** Button expiry is judged on the database's clock: replicas whose clocks disagree agree on it. */
describe("Slack button tokens across skewed replicas", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pg", "slack_tokens_clock");
  });
  afterAll(async () => {
    await store.close();
  });

  it("a button issued by one replica is live for another whose clock runs 2 h ahead, and expired for neither early", async () => {
    const onTime = new ActionTokens({ db: store.db, clock: () => new Date(), ttlMs: 3600_000 });
    const ahead = new ActionTokens({ db: store.db, clock: () => new Date(Date.now() + 2 * 3600_000), ttlMs: 3600_000 });
    const behind = new ActionTokens({ db: store.db, clock: () => new Date(Date.now() - 2 * 3600_000), ttlMs: 3600_000 });
    const token = await onTime.issue({ action: "approve", runId: "run_x", stepIdx: 1, planHash: "h" });
    expect(await ahead.resolve(token)).toMatchObject({ ok: true });
    // The replica behind does not hand out a token that is already dead for everyone else.
    expect(await behind.issue({ action: "approve", runId: "run_x", stepIdx: 1, planHash: "h" })).toBe(token);
    await store.db.query("UPDATE slack_action_tokens SET expires_at = now() - interval '1 second' WHERE token = $1", [token]);
    expect(await behind.resolve(token)).toMatchObject({ ok: false, code: "expired" });
    expect(await behind.issue({ action: "approve", runId: "run_x", stepIdx: 1, planHash: "h" })).not.toBe(token);
  });
});
