import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DrillReport } from "../../src/drills/report.ts";
import { insertDrillRun, setDrillStatus } from "../../src/drills/store.ts";
import { insertIncident, upsertAlerts } from "../../src/incidents/queries.ts";
import { alertSchema } from "../../src/sdk/alert.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));
const PLAYBOOKS = fileURLToPath(new URL("../fixtures/cli-playbooks", import.meta.url));

function belay(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: tmpdir(), BELAY_CONFIG: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

const at = new Date("2026-12-01T03:00:00Z");

function report(id: string, over: Partial<DrillReport>): DrillReport {
  return {
    drill: { id: "redis-maxmemory", title: "Redis at maxmemory refuses writes", hypothesis: "h", mode: "live", target: "cache", blastRadius: "b", rehearsalNote: null },
    drillRunId: id,
    status: "failed",
    reason: null,
    startedBy: "alice",
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    incidentId: null,
    runId: null,
    proposedPlaybook: null,
    hypothesisHeld: false,
    detection: { mode: "synthetic" },
    criteria: [{ name: "proposed", expected: "redis-maxmemory-policy within 60 s", measured: null, unit: "", ok: false, detail: "no run proposed" }],
    scores: { detectS: null, acknowledgeS: null, approveS: null, recoverS: null },
    probe: null,
    simulated: [],
    undo: [],
    timeline: [{ at: at.toISOString(), t: 0, event: "drill.started", detail: "redis-maxmemory against cache" }],
    trend: [],
    ...over,
  };
}

describe("belay incidents and belay drill runs: the ids postmortem and drill report need", { timeout: 120_000 }, () => {
  let store: TestStore;
  let env: Record<string, string>;

  beforeAll(async () => {
    store = await openTestStore("pg", "cli_incidents");
    env = { DATABASE_URL: store.url!, BELAY_PLAYBOOKS_DIR: PLAYBOOKS, BELAY_LOG_LEVEL: "warn" };
    const base = { service: "cache", drill: false, source: "alertmanager", severity: "critical", pagerdutyIncidentId: null, pagerdutyStatus: null, alertCount: 1, openedCount: 1, lastAlertAt: at, slackChannel: null, slackTs: null, slackPermalink: null, updatedAt: at, resolvedAt: null };
    await insertIncident(store.db, { ...base, id: "inc_openone111", title: "RedisOutOfConfiguredMaxmemory on cache", status: "open", failureMode: "redis-maxmemory", createdAt: at });
    await insertIncident(store.db, { ...base, id: "inc_resolved22", title: "KubeNodeNotReady worker-3", status: "resolved", failureMode: "node-not-ready", createdAt: new Date(at.getTime() - 3600_000), resolvedAt: at });
    const alert = alertSchema.parse({ source: "alertmanager", fingerprint: "fp1", status: "firing", title: "RedisOutOfConfiguredMaxmemory: OOM command not allowed", labels: { alertname: "RedisOutOfConfiguredMaxmemory" } });
    await upsertAlerts(store.db, [{ source: "alertmanager", fingerprint: "fp1", incidentId: "inc_openone111", status: "firing", alert, received: 1, firstSeenAt: at, lastSeenAt: at, resolvedAt: null }]);
    // One drill that never injected (refused at its gate), one that injected and failed.
    for (const [id, r] of [
      ["drl_notrun1111", report("drl_notrun1111", { reason: "the injection was not approved: denied by bob" })],
      ["drl_failed2222", report("drl_failed2222", { undo: [{ name: "tiny-maxmemory", undone: true, error: null }], timeline: [{ at: at.toISOString(), t: 1, event: "injection.applied", detail: "tiny-maxmemory" }], scores: { detectS: 4, acknowledgeS: null, approveS: null, recoverS: null } })],
    ] as const) {
      await insertDrillRun(store.db, { id, drillId: "redis-maxmemory", mode: "live", target: "cache", startedBy: "alice", owner: "t", leaseMs: 1000, now: at });
      await setDrillStatus(store.db, id, "failed", r.reason, at, r as unknown as Record<string, unknown>);
    }
  });
  afterAll(async () => {
    await store?.close();
  });

  it("`belay incidents` lists them as a table; --status and --json work (failed before: no such command)", async () => {
    const r = await belay(["incidents"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^INCIDENT\s+OPENED\s+STATUS\s+FAILURE MODE\s+ALERTS\s+TITLE\n/);
    expect(r.stdout).toMatch(/inc_openone111\s+2026-12-01T03:00:00.000Z\s+open\s+redis-maxmemory\s+1\s+RedisOutOfConfiguredMaxmemory on cache/);
    expect(r.stdout).toContain("inc_resolved22");
    const open = await belay(["incidents", "list", "--status", "open", "--json"], env);
    expect(JSON.parse(open.stdout).incidents.map((i: { id: string }) => i.id)).toEqual(["inc_openone111"]);
    expect((await belay(["incidents", "--status", "burning"], env)).code).toBe(2);
  });

  it("`belay incidents show` takes a unique prefix and shows the alerts", async () => {
    const r = await belay(["incidents", "show", "inc_open"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Incident inc_openone111: RedisOutOfConfiguredMaxmemory on cache");
    expect(r.stdout).toMatch(/firing\s+alertmanager\s+2026-12-01T03:00:00.000Z\s+RedisOutOfConfiguredMaxmemory: OOM command not allowed/);
    const missing = await belay(["incidents", "show", "inc_nope"], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no incident inc_nope; `belay incidents` lists recent ones");
  });

  it("`belay drill runs` lists drill runs, a drill that never injected as not run, with its reason", async () => {
    const r = await belay(["drill", "runs"], env);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/drl_notrun1111\s+\S+\s+not run\s+redis-maxmemory\s+alice\s+the injection was not approved: denied by bob/);
    expect(r.stdout).toMatch(/drl_failed2222\s+\S+\s+failed\s+redis-maxmemory/);
    const j = JSON.parse((await belay(["drill", "runs", "--json"], env)).stdout);
    expect(j.drillRuns.map((d: { id: string; outcome: string }) => [d.id, d.outcome]).sort()).toEqual([["drl_failed2222", "failed"], ["drl_notrun1111", "not run"]]);
  });

  it("`belay drill report` says NOT RUN, not a failed hypothesis, for a drill that never injected (failed before: FAILED, DID NOT HOLD)", async () => {
    const r = await belay(["drill", "report", "drl_notrun"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("**NOT RUN** (the injection was not approved: denied by bob)");
    expect(r.stdout).toContain("## Hypothesis: not tested (nothing was injected)");
    expect(r.stdout).not.toContain("DID NOT HOLD");
    const failed = await belay(["drill", "report", "drl_failed2222", "--json"], env);
    expect(JSON.parse(failed.stdout).status).toBe("failed");
    expect((await belay(["drill", "report", "drl_failed2222"], env)).stdout).toContain("## Hypothesis: DID NOT HOLD");
  });
});
