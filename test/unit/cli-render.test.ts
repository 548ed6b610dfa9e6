import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/events.ts";
import { renderRun } from "../../src/cli/render.ts";
import type { RunView } from "../../src/execute/engine.ts";

const now = new Date("2026-11-22T03:00:00Z");
const step = (idx: number, name: string, kind: "diagnose" | "act", status: string, output: unknown = null) =>
  ({ runId: "run_1", idx, name, kind, risk: kind === "act" ? "medium" : null, permissions: [], status, preview: null, previewData: null, output, error: null, attempts: 1, startedAt: now, finishedAt: now }) as RunView["steps"][number];

describe("belay status / run output", () => {
  it("a run whose change was not needed says so and why, not just 'succeeded'", () => {
    const view: RunView = {
      run: { id: "run_1", playbookId: "redis-maxmemory-policy", playbookFingerprint: "f", incidentId: null, requestedBy: "alice", surface: "cli", params: {}, status: "succeeded", statusReason: null, dryRun: false, planHash: "h", abortRequested: null, leaseOwner: null, leaseExpiresAt: null, nextAt: now, createdAt: now, updatedAt: now },
      steps: [step(0, "memory", "diagnose", "succeeded", { usedBytes: 1048576, maxmemoryBytes: 0, policy: "noeviction" }), step(1, "set-policy", "act", "skipped")],
      approvals: [],
      playbook: null,
    };
    const events = [{ seq: 1, kind: "step.skipped", step: "set-policy", actor: "belay", surface: "engine", data: { reason: "maxmemory is 0 (no limit)", by: "condition" } }] as unknown as AuditEvent[];
    const out = renderRun(view, events);
    expect(out).toContain("  outcome: nothing needed, nothing changed\n    - set-policy not needed: maxmemory is 0 (no limit)");
    expect(out).toContain("       skipped: maxmemory is 0 (no limit)");
    expect(out).toContain("       usedBytes: 1.0 MiB\n       maxmemoryBytes: 0 B\n       policy: noeviction");
  });

  it("a step's preview, its verify result and a notify step's message stay visible after they ran (failed before: gone once succeeded)", () => {
    const act = { ...step(1, "set-policy", "act", "succeeded"), preview: "maxmemory-policy noeviction -> allkeys-lru" };
    const view: RunView = {
      run: { id: "run_2", playbookId: "redis-maxmemory-policy", playbookFingerprint: "f", incidentId: null, requestedBy: "alice", surface: "cli", params: {}, status: "succeeded", statusReason: null, dryRun: false, planHash: "ab".repeat(32), abortRequested: null, leaseOwner: null, leaseExpiresAt: null, nextAt: now, createdAt: now, updatedAt: now },
      steps: [step(0, "memory", "diagnose", "succeeded", { policy: "noeviction" }), act, { ...step(2, "tell", "diagnose", "succeeded"), kind: "notify" } as RunView["steps"][number]],
      approvals: [],
      playbook: null,
    };
    const events = [
      { seq: 1, kind: "step.verified", step: "set-policy", actor: "belay", surface: "engine", data: { detail: "policy is allkeys-lru" } },
      { seq: 2, kind: "notify.sent", step: "tell", actor: "belay", surface: "engine", data: { message: "cache policy is now allkeys-lru" } },
    ] as unknown as AuditEvent[];
    const out = renderRun(view, events);
    expect(out).toContain(`  plan ${"ab".repeat(32)}`);
    expect(out).toContain("       change: maxmemory-policy noeviction -> allkeys-lru\n       verify: ok, policy is allkeys-lru");
    expect(out).toContain("       sent: cache policy is now allkeys-lru");
  });

  it("colour only when asked (a terminal without NO_COLOR)", () => {
    const view: RunView = {
      run: { id: "run_3", playbookId: "p", playbookFingerprint: "f", incidentId: null, requestedBy: "alice", surface: "cli", params: {}, status: "failed", statusReason: null, dryRun: false, planHash: "h", abortRequested: null, leaseOwner: null, leaseExpiresAt: null, nextAt: now, createdAt: now, updatedAt: now },
      steps: [step(0, "memory", "diagnose", "succeeded", { a: 1 }), step(1, "set", "act", "failed")],
      approvals: [],
      playbook: null,
    };
    expect(renderRun(view)).not.toContain("\x1b[");
    const coloured = renderRun(view, [], { color: true });
    expect(coloured).toContain("\x1b[32mok\x1b[0m");
    expect(coloured).toContain("\x1b[31mFAILED\x1b[0m");
  });

  it("a diagnostic's list of records is a table, long lists counted, never JSON cut mid-string (failed before: one bullet line per record)", () => {
    const pods = Array.from({ length: 18 }, (_, i) => ({ name: `api-${i}`, phase: i === 0 ? "CrashLoopBackOff" : "Running", restarts: i === 0 ? 41 : 0 }));
    const view: RunView = {
      run: { id: "run_4", playbookId: "p", playbookFingerprint: "f", incidentId: null, requestedBy: "alice", surface: "cli", params: {}, status: "succeeded", statusReason: null, dryRun: false, planHash: "h", abortRequested: null, leaseOwner: null, leaseExpiresAt: null, nextAt: now, createdAt: now, updatedAt: now },
      steps: [step(0, "pods", "diagnose", "succeeded", { namespace: "shop", pods })],
      approvals: [],
      playbook: null,
    };
    const out = renderRun(view);
    expect(out).toContain("       namespace: shop\n       pods (18):\n         NAME    PHASE             RESTARTS\n");
    expect(out).toMatch(/ {9}api-0 {3}CrashLoopBackOff {2}41\n/);
    expect(out).toContain("         … and 3 more");
    expect(out).not.toContain("{");
  });
});
