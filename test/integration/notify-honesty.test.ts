import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../src/audit/chain.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { bob, testEngine } from "../helpers/engine.ts";

// A notify step's message says what the run really did: the playbook's text (written for a
// completed change) is delivered only when every change before it was made; a skipped or
// dry-run change is never claimed. Before src/execute/notify-text.ts each case below was
// delivered as "maxmemory-policy noeviction -> allkeys-lru on cache. Persist it ...".

const cache = { policy: "noeviction" };
const redisPolicy = playbook({
  id: "cache-policy",
  title: "Redis at maxmemory: evict instead of refusing writes",
  summary: "Switches the eviction policy, then says so.",
  failureModes: ["redis-maxmemory"],
  params: z.object({ redis: z.string().default("cache"), policy: z.string().default("allkeys-lru") }),
})
  .diagnose("memory", () => ({ policy: cache.policy }))
  .act("set-policy", {
    risk: "medium",
    permissions: ["redis:CONFIG"],
    locks: { none: "a test step on an in-memory object" },
    when: { if: ({ params, outputs }) => outputs.memory.policy !== params.policy, reason: ({ params }) => `the policy is already ${params.policy}` },
    preview: ({ params, outputs }) => `maxmemory-policy ${outputs.memory.policy} -> ${params.policy}`,
    run: ({ params }) => {
      const previous = cache.policy;
      cache.policy = params.policy;
      return { previous };
    },
    verify: ({ params }) => cache.policy === params.policy,
    rollback: ({ result }) => {
      cache.policy = result.previous;
    },
  })
  .notify("follow-up", {
    message: ({ params, outputs }) => `maxmemory-policy ${outputs.memory.policy} -> ${params.policy} on ${params.redis}. Persist it in redis.conf or CONFIG REWRITE.`,
  });

// A follow-up written from the change's own result: it cannot even be written when the change was skipped.
const fromResult = playbook({
  id: "cache-policy-result",
  title: "Redis at maxmemory: evict instead of refusing writes (follow-up from the result)",
  summary: "Switches the eviction policy, then says what it was.",
  failureModes: ["redis-maxmemory"],
  params: z.object({ policy: z.string().default("allkeys-lru") }),
})
  .diagnose("memory", () => ({ policy: cache.policy }))
  .act("set-policy", {
    risk: "medium",
    permissions: ["redis:CONFIG"],
    locks: { none: "a test step on an in-memory object" },
    when: { if: ({ params, outputs }) => outputs.memory.policy !== params.policy, reason: ({ params }) => `the policy is already ${params.policy}` },
    preview: ({ params }) => `maxmemory-policy -> ${params.policy}`,
    run: ({ params }) => {
      const previous = cache.policy;
      cache.policy = params.policy;
      return { previous };
    },
    verify: ({ params }) => cache.policy === params.policy,
    irreversible: "a test step",
  })
  .notify("follow-up", {
    message: ({ params, outputs }) => `maxmemory-policy ${(outputs["set-policy"] as { previous: string }).previous} -> ${params.policy}. ${CLAIM}.`,
  });

let store: TestStore;
beforeAll(async () => {
  store = await openTestStore("pglite", "notify_honesty");
});
afterAll(async () => {
  await store.close();
});

function setup() {
  const sent: string[] = [];
  const { engine } = testEngine({ db: store.db, playbooks: [redisPolicy, fromResult], extra: { notify: async (_run, message) => void sent.push(message) } });
  return { engine, sent };
}

const CLAIM = "Persist it in redis.conf";

describe("notify messages say what really happened", () => {
  it("a real, verified change: the playbook's message as written", async () => {
    cache.policy = "noeviction";
    const { engine, sent } = setup();
    const { runId } = await engine.propose({ playbookId: "cache-policy", params: {}, requestedBy: "alice", surface: "cli" });
    let view = await engine.drive(runId);
    await engine.decide({ kind: "approve", runId, step: "set-policy", actor: bob, planHash: view.run.planHash });
    view = await engine.drive(runId);
    expect(view.run.status).toBe("succeeded");
    expect(sent).toEqual([`maxmemory-policy noeviction -> allkeys-lru on cache. ${CLAIM} or CONFIG REWRITE.`]);
  });

  it("the act step skipped by its condition: nothing was changed, and why", async () => {
    cache.policy = "allkeys-lru";
    const { engine, sent } = setup();
    const { runId } = await engine.propose({ playbookId: "cache-policy", params: {}, requestedBy: "alice", surface: "cli" });
    const view = await engine.drive(runId);
    expect(view.steps.map((s) => s.status)).toEqual(["succeeded", "skipped", "succeeded"]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).not.toContain(CLAIM);
    expect(sent[0]).not.toMatch(/->/);
    expect(sent[0]).toMatch(/^Nothing was changed: `set-policy` was not needed \(the policy is already allkeys-lru\)\./);
    // What was delivered is what the audit trail and the step's output record.
    const notified = (await eventsForRun(store.db, runId)).find((e) => e.kind === "notify.sent")!;
    expect(notified.data.message).toBe(sent[0]);
  });

  it("the act step skipped by a person: nothing was changed, and who skipped it", async () => {
    cache.policy = "noeviction";
    const { engine, sent } = setup();
    const { runId } = await engine.propose({ playbookId: "cache-policy", params: {}, requestedBy: "alice", surface: "cli" });
    await engine.drive(runId);
    const r = await engine.decide({ kind: "skip", runId, step: "set-policy", actor: bob });
    expect(r.accepted).toBe(true);
    await engine.drive(runId);
    expect(cache.policy).toBe("noeviction");
    expect(sent).toHaveLength(1);
    expect(sent[0]).not.toContain(CLAIM);
    expect(sent[0]).toMatch(/^Nothing was changed: `set-policy` was skipped by bob\./);
  });

  it("a dry run: the message says it was a dry run and claims no change", async () => {
    cache.policy = "noeviction";
    const { engine, sent } = setup();
    const { runId } = await engine.propose({ playbookId: "cache-policy", params: {}, requestedBy: "alice", surface: "cli", dryRun: true });
    const view = await engine.drive(runId);
    expect(view.run.status).toBe("previewed");
    expect(cache.policy).toBe("noeviction");
    expect(sent).toHaveLength(1);
    expect(sent[0]).not.toContain(CLAIM);
    expect(sent[0]).toBe("DRY RUN: nothing was changed. `set-policy` was only previewed (maxmemory-policy noeviction -> allkeys-lru). The playbook's follow-up is not sent: it was written for changes that did not happen.");
  });

  it("a follow-up that reads the skipped change's result: the run still succeeds, with the honest text", async () => {
    // Before, the playbook's text was written first even when it was to be replaced: reading
    // the skipped step's missing result threw, and the run failed at its notify step.
    cache.policy = "allkeys-lru";
    const { engine, sent } = setup();
    const { runId } = await engine.propose({ playbookId: "cache-policy-result", params: {}, requestedBy: "alice", surface: "cli" });
    const view = await engine.drive(runId);
    expect(view.run.status).toBe("succeeded");
    expect(sent).toEqual([expect.stringMatching(/^Nothing was changed: `set-policy` was not needed \(the policy is already allkeys-lru\)\./)]);
  });
});
