import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsForRun } from "../../src/audit/chain.ts";
import { playbook, target, z } from "../../src/sdk/index.ts";
import { bob, testEngine } from "../helpers/engine.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

/** An act step that declares no locks but names a redis target: it locks that target. */
function unlockedPlaybook(seen: { inside: number; most: number; gate: Promise<void> | null }, explicit?: (p: { redis: string }) => string[]) {
  return playbook({ id: explicit ? "part-locks" : "no-locks", title: "No locks", summary: "An act step without locks on a redis target.", failureModes: [], params: z.object({ redis: target("redis") }) }).act("mutate", {
    risk: "medium",
    permissions: ["redis:CONFIG"],
    ...(explicit ? { locks: ({ params }: { params: { redis: string } }) => explicit(params) } : {}),
    preview: ({ params }) => `mutate ${params.redis}`,
    run: async () => {
      seen.inside++;
      seen.most = Math.max(seen.most, seen.inside);
      if (seen.gate) await seen.gate;
      seen.inside--;
      return {};
    },
    verify: () => true,
    irreversible: "a test mutation",
  });
}

describe("an act step without explicit locks (real Postgres)", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore("pg", "default_locks");
  });
  afterAll(async () => {
    await store.close();
  });

  it("locks the target its params name: a second run waits until the first is done", async () => {
    let open!: () => void;
    const seen = { inside: 0, most: 0, gate: new Promise<void>((r) => (open = r)) as Promise<void> | null };
    const pb = unlockedPlaybook(seen);
    const { engine } = testEngine({ db: store.db, playbooks: [pb] });
    const { engine: engine2 } = testEngine({ db: store.db, playbooks: [pb], owner: "other" });
    const one = await engine.propose({ playbookId: "no-locks", params: { redis: "cache" }, requestedBy: "alice", surface: "cli" });
    const two = await engine.propose({ playbookId: "no-locks", params: { redis: "cache" }, requestedBy: "alice", surface: "cli" });
    for (const r of [one, two]) {
      const v = await engine.drive(r.runId);
      await engine.decide({ kind: "approve", runId: r.runId, step: "mutate", actor: bob, planHash: v.run.planHash });
    }
    const first = engine.drive(one.runId); // parks inside mutate until the gate opens
    await new Promise((r) => setTimeout(r, 300));
    const p2 = engine2.drive(two.runId);
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.most).toBe(1);
    const waiting = await engine.view(two.runId);
    expect(waiting.steps[0]!.status).not.toBe("running");
    const ev = await eventsForRun(store.db, two.runId);
    expect(ev.find((e) => e.kind === "lock.waited")?.data).toMatchObject({ target: "redis:cache" });
    open();
    await first;
    const after = await p2;
    expect(after.steps[0]!.status).toBe("succeeded");
    expect(seen.most).toBe(1);
  });

  it("conflicts with a step that locks only a part of the same target (each part lock takes the whole target too)", async () => {
    let open!: () => void;
    const seen = { inside: 0, most: 0, gate: new Promise<void>((r) => (open = r)) as Promise<void> | null };
    const whole = unlockedPlaybook(seen);
    const part = unlockedPlaybook(seen, (p) => [`redis:${p.redis}/clients`]);
    const { engine } = testEngine({ db: store.db, playbooks: [whole, part] });
    const { engine: engine2 } = testEngine({ db: store.db, playbooks: [whole, part], owner: "other" });
    const one = await engine.propose({ playbookId: "part-locks", params: { redis: "shared" }, requestedBy: "alice", surface: "cli" });
    const two = await engine.propose({ playbookId: "no-locks", params: { redis: "shared" }, requestedBy: "alice", surface: "cli" });
    for (const r of [one, two]) {
      const v = await engine.drive(r.runId);
      await engine.decide({ kind: "approve", runId: r.runId, step: "mutate", actor: bob, planHash: v.run.planHash });
    }
    const first = engine.drive(one.runId);
    await new Promise((r) => setTimeout(r, 300));
    const p2 = engine2.drive(two.runId);
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.most).toBe(1);
    const started = (await eventsForRun(store.db, one.runId)).find((e) => e.kind === "step.started");
    expect(started?.data).toMatchObject({ locks: ["redis:shared", "redis:shared/clients"] });
    const ev = await eventsForRun(store.db, two.runId);
    expect(ev.find((e) => e.kind === "lock.waited")?.data).toMatchObject({ target: "redis:shared" });
    open();
    await first;
    expect((await p2).steps[0]!.status).toBe("succeeded");
  });
});
