import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../src/audit/chain.ts";
import { runOutcome } from "../../src/execute/outcome.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

// A playbook whose act step its own diagnostics show is not needed: the skip says why.
const terminate = playbook({ id: "t-terminate", title: "t", summary: "t", failureModes: [], params: z.object({ olderThanMinutes: z.number().default(10) }) })
  .diagnose("idle", () => ({ sessions: 0, total: 19 }))
  .act("terminate", {
    risk: "medium",
    permissions: ["postgres:pg_signal_backend"],
    locks: { none: "a test step: it changes nothing another run could change" },
    when: [
      { if: () => true, reason: "never shown: this check holds" },
      { if: ({ outputs }) => outputs.idle.sessions > 0, reason: ({ params, outputs }) => `no session idle in transaction for ${params.olderThanMinutes} min or more (${outputs.idle.total} connections)` },
    ],
    preview: () => "terminate nothing",
    run: () => ({ done: true }),
    verify: () => true,
    irreversible: "test",
  });

const bare = playbook({ id: "t-bare", title: "t", summary: "t", failureModes: [], params: z.object({}) })
  .act("x", { risk: "low", permissions: ["x:y"], locks: { none: "a test step: it changes nothing another run could change" }, when: () => false, preview: () => "x", run: () => 1, verify: () => true, rollback: () => 0 });

describe("skip reasons and outcomes through the engine", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pglite", "outcomes");
  });
  afterAll(async () => {
    await store.close();
  });

  it("a step skipped by { if, reason } records the failing check's reason, asks nobody, and the run's outcome is 'nothing needed'", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [terminate, bare] });
    const { runId } = await engine.propose({ playbookId: "t-terminate", params: {}, requestedBy: "alice", surface: "cli" });
    const view = await engine.drive(runId);
    expect(view.run.status).toBe("succeeded");
    const events = await eventsForRun(store.db, runId);
    expect(events.some((e) => e.kind === "step.awaiting_approval")).toBe(false);
    const skipped = events.find((e) => e.kind === "step.skipped");
    expect(skipped?.data.reason).toBe("no session idle in transaction for 10 min or more (19 connections)");
    const o = runOutcome(view.run, view.steps, events);
    expect(o.kind).toBe("nothing_needed");
    expect(o.fixed).toBe(false);
    expect(o.reasons).toEqual(["terminate not needed: no session idle in transaction for 10 min or more (19 connections)"]);
  });

  it("a bare predicate still works and says its condition is false", async () => {
    const { engine } = testEngine({ db: store.db, playbooks: [terminate, bare] });
    const { runId } = await engine.propose({ playbookId: "t-bare", params: {}, requestedBy: "alice", surface: "cli" });
    await engine.drive(runId);
    const events = await eventsForRun(store.db, runId);
    expect(events.find((e) => e.kind === "step.skipped")?.data.reason).toBe("its when condition is false");
  });
});
