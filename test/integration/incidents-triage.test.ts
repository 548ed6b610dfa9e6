import { afterAll, beforeAll, expect, it } from "vitest";
import type { Engine } from "../../src/execute/engine.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";

/*
 * Triage posts its report after the diagnose steps ran. `engine.drive` returns a run it
 * could not claim because the engine's loop held its row that instant, still `pending`:
 * triage must not take that for "driven".
 */

const depthCheck = playbook({
  id: "queue-depth",
  title: "Look at a stalled queue",
  summary: "Reads the queue depth, then restarts the consumer.",
  failureModes: ["thread-starvation"],
  match: [{ alertname: "TestQueueStalled" }],
  params: z.object({ queue: z.string().min(1) }),
  fromAlert: (a) => ({ queue: a.labels.queue }),
})
  .diagnose("depth", ({ params }) => ({ queue: params.queue, depth: 42 }))
  .act("restart", { risk: "low", permissions: ["queue:restart"], locks: { none: "a test step: it changes nothing another run could change" }, preview: () => "restart", run: () => ({ ok: true }), verify: () => true, irreversible: "test" });

let store: TestStore;
let h: IngestHarness;

beforeAll(async () => {
  store = await openTestStore("pg", "incidents_triage");
  const { engine } = testEngine({ db: store.db, playbooks: [depthCheck] });
  // The first drive of each run comes back as the engine's loop would leave it mid-claim.
  const raced = new Set<string>();
  const racing = new Proxy(engine, {
    get(target, prop, receiver) {
      if (prop === "drive") {
        return async (runId: string) => {
          if (raced.has(runId)) return target.drive(runId);
          raced.add(runId);
          return target.view(runId);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Engine;
  h = await startIngest({ db: store.db, engine: racing, playbooks: [depthCheck], notifier: recordingNotifier().notifier, pagerduty: null, startWorker: true });
});
afterAll(async () => {
  await h.close();
  await store.close();
});

it("waits for the diagnose steps when drive finds the run still pending", async () => {
  const r = await h.postAm(amPayload({ groupKey: '{}:{alertname="TestQueueStalled",queue="race"}', alerts: [amAlert({ alertname: "TestQueueStalled", labels: { queue: "race", severity: "critical" } })] }));
  expect(r.status).toBe(202);
  await h.settle();
  const triaged = h.events.find((e) => e.kind === "incident.triaged")!;
  expect(triaged.runId).not.toBeNull();
  expect(triaged.data.runStatus).toBe("awaiting_approval");
  const view = await h.engine.view(triaged.runId!);
  expect(view.steps.map((s) => [s.name, s.status])).toEqual([["depth", "succeeded"], ["restart", "awaiting_approval"]]);
});
