import { afterAll, beforeAll, expect, it } from "vitest";
import { insertDrillRun, setDrillStatus } from "../../src/drills/store.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

/** A drill's stored reason and report are what people read later: redacted like every other store copy. */
const DSN = "postgres://app:Dr1ll-S3cret@db.internal:5432/app";

let store: TestStore;
beforeAll(async () => {
  store = await openTestStore("pg", "drill_store_redact");
});
afterAll(async () => {
  await store.close();
});

it("a drill's status reason and report are stored with secrets redacted", async () => {
  await insertDrillRun(store.db, { id: "drl_redact", drillId: "d", mode: "live", target: "cache", startedBy: "alice", owner: "o", leaseMs: 10_000, now: new Date() });
  await setDrillStatus(store.db, "drl_redact", "failed", `probe failed: could not connect to ${DSN}`, new Date(), { note: `target ${DSN}`, header: "Authorization: Bearer sk_live_0123456789abcdefABCDEF" });
  const row = (await store.db.query<{ t: string }>(`SELECT (to_jsonb(d))::text AS t FROM drill_runs d WHERE id = 'drl_redact'`)).rows[0]!.t;
  expect(row).not.toContain("Dr1ll-S3cret");
  expect(row).not.toContain("sk_live_0123456789abcdefABCDEF");
  expect(row).toContain("postgres://app:[redacted]@db.internal:5432/app");
});
