import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/events.ts";
import type { Engine } from "../../src/execute/engine.ts";
import { fakeService, servicePlaybook } from "../fixtures/playbooks.ts";
import { consoleCore, fakeAuth, oidcPerson, serveConsole } from "../helpers/console.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";

/**
 * Live pages: /console/events streams the audit stream (Core.subscribe) as kinds and ids only,
 * with a heartbeat, over real HTTP; a decision made from the console reaches it; stopping the
 * server ends the stream.
 */
const TOKEN = "tok-very-secret-0123456789";
let store: TestStore;
let engine: Engine;
let served: Awaited<ReturnType<typeof serveConsole>>;
const listeners: ((e: readonly AuditEvent[]) => void)[] = [];
const auth = fakeAuth({ principal: oidcPerson("bob") });

beforeAll(async () => {
  store = await openTestStore("pg", "console_live");
  ({ engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())], extra: { onEvents: (e) => listeners.forEach((fn) => fn(e)) } }));
  served = await serveConsole(consoleCore(store.db, engine), { auth, heartbeatMs: 100 });
  // What belay serve does: each integration's onEvents subscribed to the audit stream.
  listeners.push((e) => served.integration.onEvents!(e));
  engine.start();
}, 60_000);
afterAll(async () => {
  await engine?.stop();
  await served?.close();
  await store?.close();
});

/** An open event stream: everything read so far, and a wait for a pattern in it. */
async function openStream(path = "/console/events") {
  const res = await fetch(`${served.url}${path}`, { headers: { accept: "text/event-stream" } });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let ended = false;
  const pump = (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    ended = true;
  })();
  return {
    res,
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
    async waitFor(test: (t: string) => boolean, ms = 10_000): Promise<void> {
      const until = Date.now() + ms;
      while (!test(text)) {
        if (ended) throw new Error(`the stream ended before it held what was expected; it held:\n${text}`);
        if (Date.now() > until) throw new Error(`timed out; the stream held:\n${text}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    pump,
    cancel: () => reader.cancel().catch(() => undefined),
  };
}

const messages = (text: string) =>
  text
    .split("\n\n")
    .filter((b) => b.includes("event: audit"))
    .map((b) => JSON.parse(b.split("\n").find((l) => l.startsWith("data: "))!.slice(6)) as Record<string, unknown>);

describe("console live events", () => {
  it("a decision made in the console reaches the stream as its kind and run id, nothing more", async () => {
    const stream = await openStream();
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    await stream.waitFor((t) => t.includes("event: hello"));

    const { runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api", token: TOKEN }, requestedBy: "alice", surface: "console" });
    await stream.waitFor((t) => messages(t).some((m) => m.kind === "run.proposed" && m.run === runId));
    let view = await engine.view(runId);
    for (let i = 0; i < 200 && view.run.status !== "awaiting_approval"; i++) {
      await new Promise((r) => setTimeout(r, 25));
      view = await engine.view(runId);
    }
    expect(view.run.status).toBe("awaiting_approval");

    const res = await fetch(`${served.url}/console/runs/${runId}/decide`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: "csrf-bob", action: "approve", step: "2", planHash: view.run.planHash }),
    });
    expect(res.status).toBe(200);
    await stream.waitFor((t) => messages(t).some((m) => m.kind === "step.approved" && m.run === runId));
    // The approved step then runs in the engine's loop, and that is streamed too.
    await stream.waitFor((t) => messages(t).some((m) => m.kind === "step.verified" && m.run === runId));

    for (const m of messages(stream.text)) expect(Object.keys(m).sort()).toEqual(["incident", "kind", "run"]);
    expect(stream.text).not.toContain(TOKEN);
    expect(stream.text).not.toContain(view.run.planHash);
    expect(stream.text).not.toContain("bob");
    await stream.cancel();
  });

  it("sends a heartbeat while nothing happens", async () => {
    const stream = await openStream();
    await stream.waitFor((t) => (t.match(/^: heartbeat$/gm) ?? []).length >= 2, 3_000);
    await stream.cancel();
  });

  it("a client that leaves is forgotten", async () => {
    const stream = await openStream();
    await stream.waitFor((t) => t.includes("event: hello"));
    const before = served.integration.live.size;
    await stream.cancel();
    const until = Date.now() + 3_000;
    while (served.integration.live.size >= before && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(served.integration.live.size).toBe(before - 1);
  });

  it("a session's stream ends when the session does", async () => {
    auth.setSession({ principal: oidcPerson("bob"), expiresAt: Date.now() + 400 });
    try {
      const stream = await openStream();
      await stream.waitFor((t) => t.includes("event: hello"));
      await Promise.race([stream.pump, new Promise((_, reject) => setTimeout(() => reject(new Error("the stream outlived its session")), 3_000))]);
      expect(stream.ended).toBe(true);
    } finally {
      auth.setSession({ principal: oidcPerson("bob") });
    }
  });

  it("an event another replica writes to the same store reaches the stream too, so a page follows runs on every replica", async () => {
    // A second belay on the same Postgres: its events never pass through this process's onEvents.
    const other = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())] }).engine;
    const stream = await openStream();
    await stream.waitFor((t) => t.includes("event: hello"));
    const { runId } = await other.propose({ playbookId: "fix-service", params: { name: "api", token: TOKEN }, requestedBy: "alice", surface: "console" });
    await stream.waitFor((t) => messages(t).some((m) => m.kind === "run.proposed" && m.run === runId), 5_000);
    // Once each: an event this process also saw in-process is not sent twice.
    const proposed = messages(stream.text).filter((m) => m.kind === "run.proposed" && m.run === runId);
    expect(proposed).toHaveLength(1);
    expect(stream.text).not.toContain(TOKEN);
    await stream.cancel();
  });

  it("the stream closes when the server stops", async () => {
    const stream = await openStream();
    await stream.waitFor((t) => t.includes("event: hello"));
    await served.integration.stop!();
    await Promise.race([stream.pump, new Promise((_, reject) => setTimeout(() => reject(new Error("the stream stayed open after stop")), 3_000))]);
    expect(stream.ended).toBe(true);
    // After stop, a new stream ends at once.
    const late = await openStream();
    await Promise.race([late.pump, new Promise((_, reject) => setTimeout(() => reject(new Error("a stream opened after stop stayed open")), 3_000))]);
  });
});
