import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TargetConfig } from "../../src/config.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import { createTargets } from "../../src/targets/registry.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";
import { amAlert, amPayload } from "../fixtures/webhooks/alertmanager.ts";
import { recordingNotifier, startIngest, type IngestHarness } from "../fixtures/webhooks/harness.ts";
import { output, runWithApprovals } from "./playbooks/harness.ts";

/*
 * A Redis of this test's own at its maxclients: a new connection is refused ("max number of
 * clients reached"); the standing connection belay took at start still
 * works, so redis-kill-idle-clients can make room.
 */
const MAXCLIENTS = 4;
let port: number;
let dir: string;
let store: TestStore;
let targets: ReturnType<typeof createTargets>;
let h: IngestHarness;
const fillers: Redis[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function connect(name: string): Promise<Redis> {
  const r = new Redis({ port, host: "127.0.0.1", connectionName: name, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  await r.connect();
  await r.ping(); // at the limit Redis accepts the socket, then answers the first command with an error and closes
  return r;
}

beforeAll(async () => {
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "belay-redis-limit-"));
  execFileSync("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", String(MAXCLIENTS), "--daemonize", "yes", "--pidfile", join(dir, "redis.pid"), "--dir", dir]);
  for (let i = 0; i < 100; i++) {
    try {
      (await connect("probe")).disconnect();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  store = await openTestStore("pg", "targets_standing_redis");
  const config: TargetConfig = { redis: { cache: { url: `redis://127.0.0.1:${port}`, labels: { instance: "127.0.0.1:9121" } } }, postgres: {}, kube: {}, prometheus: {} };
  targets = createTargets(config);
  h = await startIngest({ db: store.db, playbooks: [], notifier: recordingNotifier().notifier, pagerduty: null, startWorker: true, extra: { targets: config, holder: targets } });
});
afterAll(async () => {
  await h.close();
  for (const f of fillers) f.disconnect();
  await targets.close();
  await store.close();
  try {
    process.kill(Number(readFileSync(join(dir, "redis.pid"), "utf8")), "SIGTERM");
  } catch {
    /* already gone */
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("a Redis at maxclients", () => {
  it("belay holds a connection to a configured Redis from start, before any alert", async () => {
    const probe = await connect("probe");
    try {
      for (let i = 0; i < 100 && !String(await probe.client("LIST")).includes("name=belay"); i++) await new Promise((r) => setTimeout(r, 50));
      expect(String(await probe.client("LIST")), "belay's standing connection before any incident").toContain("name=belay");
    } finally {
      probe.disconnect();
    }
  });

  it("belay's standing connection still works, and kill-idle frees the slots the idle clients held", async () => {
    await h.postAm(amPayload({ groupKey: '{}:{alertname="RedisTooManyConnections"}', alerts: [amAlert({ alertname: "RedisTooManyConnections", labels: { instance: "127.0.0.1:9121", job: "redis", severity: "warning" } })] }));
    await h.settle();
    const admin = await connect("admin");
    for (let i = 0; i < 100; i++) {
      if (String(await admin.client("LIST")).includes("name=belay")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(String(await admin.client("LIST"))).toContain("name=belay");
    // Leaked idle clients take every slot left.
    admin.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; fillers.length < MAXCLIENTS - 1 && i < 10; i++) fillers.push(await connect("leaky"));
    await expect(connect("one-more")).rejects.toThrow(/max number of clients reached|Connection is closed/);
    await new Promise((r) => setTimeout(r, 1_200));

    const library = await loadPlaybooks("playbooks");
    const { engine } = testEngine({ db: store.db, playbooks: [library.get("redis-kill-idle-clients")!], targets });
    const run = await runWithApprovals(engine, "redis-kill-idle-clients", { redis: "cache", idleSeconds: 1, name: "leaky" });
    expect(run.view.run.status).toBe("succeeded");
    expect(output(run.view, "clients")).toMatchObject({ connected: MAXCLIENTS, maxclients: MAXCLIENTS });
    expect(output(run.view, "kill-idle")).toMatchObject({ killed: MAXCLIENTS - 1 });
    const after = await connect("after"); // a slot is free again
    after.disconnect();
  });
});
