import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBelayError } from "../../src/errors.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { targetsFor } from "../../src/targets/facade.ts";
import { createTargets } from "../../src/targets/registry.ts";
import type { Targets } from "../../src/targets/types.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { bob, testEngine } from "../helpers/engine.ts";

/**
 * Read-only means read-only, at run time: a playbook that escapes the types (plain JS, a cast)
 * still cannot change Redis from a diagnose, a verify or a wait, and a preview that forgot
 * `dryRun: true` is a dry run anyway. Real Redis; every key is checked after.
 */
const REDIS_URL = "redis://127.0.0.1:6379";
const prefix = `belay:ro:${randomBytes(4).toString("hex")}`;
let redis: Redis;
let targets: ReturnType<typeof createTargets>;
let store: TestStore;

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  targets = createTargets({ redis: { cache: { url: REDIS_URL } }, postgres: {}, kube: {} });
  store = await openTestStore("pglite", "read_only");
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`); // this test's own keys only
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await targets.close();
  await store.close();
});

/** What a type-escaping playbook sees: every method, typed as the full target. */
const anyTargets = (t: unknown) => t as Targets;

describe("read-only target facades", () => {
  it("a read facade has no mutating method that works: calling one throws target.read_only and changes nothing", async () => {
    const key = `${prefix}:facade`;
    await redis.set(key, "1");
    const ro = anyTargets(targetsFor(targets, "read")).redis("cache");
    expect(await ro.findKeys({ keys: [key] })).toEqual([key]);
    const err = await ro.deleteKeys({ keys: [key] }).catch((e: unknown) => e);
    expect(isBelayError(err, "target.read_only")).toBe(true);
    expect((err as Error).message).toMatch(/redis\.deleteKeys changes redis 'cache'.*read-only/);
    await expect(ro.deleteKeys({ keys: [key] }, { dryRun: true })).rejects.toMatchObject({ code: "target.read_only" });
    expect(await redis.get(key)).toBe("1");
    // An unconfigured name is still refused at once, by name.
    expect(() => targetsFor(targets, "read").redis("nope")).toThrow(/no redis target named 'nope'/);
  });

  it("a preview facade forces dryRun whatever the caller passes", async () => {
    const key = `${prefix}:preview-facade`;
    await redis.set(key, "1");
    const pv = targetsFor(targets, "preview").redis("cache");
    const a = await pv.deleteKeys({ keys: [key] });
    const b = await pv.deleteKeys({ keys: [key] }, { dryRun: false });
    expect([a.dryRun, a.deleted, b.dryRun, b.deleted]).toEqual([true, 0, true, 0]);
    expect(await redis.get(key)).toBe("1");
  });

  it("in a run: the preview that forgot dryRun, a diagnose and a verify that mutate change nothing; only run does", async () => {
    const keep = `${prefix}:keep`;
    const gone = `${prefix}:gone`;
    const spared = `${prefix}:spared`;
    await redis.set(keep, "1");
    await redis.set(gone, "1");
    await redis.set(spared, "1");
    const pb = playbook({ id: "ro-redis", title: "RO", summary: "read-only", failureModes: [], params: z.object({}) })
      .diagnose("look", async ({ targets: t }) => ({ found: await t.redis("cache").findKeys({ keys: [keep, gone] }) }))
      .act("delete", {
        risk: "low",
        permissions: ["redis:DEL"],
        locks: { none: "a test step: it changes nothing another run could change" },
        // Forgot { dryRun: true }: the facade makes it one anyway.
        preview: async ({ targets: t }) => (await t.redis("cache").deleteKeys({ keys: [gone] })).summary,
        run: ({ targets: t }) => t.redis("cache").deleteKeys({ keys: [gone] }),
        // A verify that tries to delete something else: refused.
        verify: async ({ targets: t }) => (await anyTargets(t).redis("cache").deleteKeys({ keys: [spared] })).deleted === 1,
        irreversible: "test",
      });
    const { engine } = testEngine({ db: store.db, playbooks: [pb], targets });
    const { runId } = await engine.propose({ playbookId: "ro-redis", params: {}, requestedBy: "alice", surface: "cli" });
    let view = await engine.drive(runId);
    expect(view.run.status).toBe("awaiting_approval");
    expect(view.steps[1]!.preview).toMatch(/DEL/);
    expect(await redis.exists(gone)).toBe(1); // the proposal changed nothing
    await engine.decide({ kind: "approve", runId, step: "delete", actor: bob, planHash: view.run.planHash });
    view = await engine.drive(runId);
    expect(await redis.exists(gone)).toBe(0); // run mutates
    expect(await redis.exists(spared)).toBe(1); // verify could not
    expect(view.steps[1]!.status).toBe("failed");
    expect(view.steps[1]!.error).toMatch(/deleteKeys changes redis 'cache'/);
  });

  it("a diagnose that mutates fails with target.read_only and the key survives", async () => {
    const key = `${prefix}:diag`;
    await redis.set(key, "1");
    const pb = playbook({ id: "ro-diag", title: "RO", summary: "read-only", failureModes: [], params: z.object({}) })
      .diagnose("sneaky", ({ targets: t }) => anyTargets(t).redis("cache").deleteKeys({ keys: [key] }))
      .wait("sneaky-wait", { timeoutMs: 500, until: async ({ targets: t }) => (await anyTargets(t).redis("cache").deleteKeys({ keys: [key] })).deleted > 0 });
    const { engine } = testEngine({ db: store.db, playbooks: [pb], targets });
    const { runId } = await engine.propose({ playbookId: "ro-diag", params: {}, requestedBy: "alice", surface: "cli" });
    const view = await engine.drive(runId);
    expect(view.run.status).toBe("failed");
    expect(view.steps[0]!.error).toMatch(/redis\.deleteKeys .*read-only/);
    expect(await redis.get(key)).toBe("1");
  });
});
