import { describe, expect, it } from "vitest";
import { isFailureModeId } from "../../../src/catalog/index.ts";
import { loadPlaybooks } from "../../../src/plan/registry.ts";
import { resolveTargets } from "../../../src/plan/targets.ts";

const REQUIRED = [
  "pod-crashloop", "oom-killed-raise-limit", "rollout-stuck-undo", "api-deadlock-restart", "bad-deploy-rollback",
  "coredns-restart", "node-cordon-drain", "metrics-agent-restart", "worker-restart", "node-relabel-move",
  "redis-maxmemory-policy", "redis-kill-idle-clients", "stale-cache-flush-user", "db-pooler-failover",
  "postgres-terminate-idle-in-transaction", "postgres-cancel-blocker", "postgres-replication-lag", "postgres-xid-wraparound-freeze",
];

describe("playbook library", async () => {
  const library = await loadPlaybooks("playbooks");

  it("holds at least 20 playbooks, including every id the catalog references", () => {
    expect(library.size).toBeGreaterThanOrEqual(20);
    for (const id of REQUIRED) expect(library.has(id), id).toBe(true);
  });

  it.each([...library.keys()])("%s is complete: failure modes, symptoms, match rules, manual commands, guarded act steps", (id) => {
    const pb = library.get(id)!;
    for (const fm of pb.failureModes) expect(isFailureModeId(fm), `${id}: ${fm}`).toBe(true);
    expect(pb.failureModes.length).toBeGreaterThan(0);
    expect(pb.symptoms.length).toBeGreaterThan(0);
    expect(pb.match.length).toBeGreaterThan(0);
    expect(pb.steps.some((s) => s.kind === "diagnose")).toBe(true);
    expect(pb.steps.some((s) => s.manual.length > 0)).toBe(true);
    for (const s of pb.steps.filter((x) => x.kind === "act")) {
      expect(s.preview, `${id}/${s.name}`).toBeTypeOf("function");
      expect(s.verify, `${id}/${s.name}`).toBeTypeOf("function");
      expect(s.rollback !== null || (s.irreversible ?? "").length > 10, `${id}/${s.name}`).toBe(true);
      expect(s.permissions.length).toBeGreaterThan(0);
      expect(s.locks, `${id}/${s.name} declares locks`).toBeTypeOf("function");
      expect(s.manual.length, `${id}/${s.name} has manual commands`).toBeGreaterThan(0);
    }
  });

  it("maps real alert labels to params", () => {
    const alert = (labels: Record<string, string>) => ({ labels }) as never;
    expect(library.get("oom-killed-raise-limit")!.fromAlert(alert({ namespace: "shop", pod: "api-7c9d6b5f4-x2x7k", container: "api" }))).toEqual({ namespace: "shop", deployment: "api", container: "api" });
    expect(library.get("node-cordon-drain")!.fromAlert(alert({ node: "ip-10-0-1-7" }))).toEqual({ node: "ip-10-0-1-7" });
    expect(library.get("node-cordon-drain")!.fromAlert(alert({ instance: "ip-10-0-1-7:9100" }))).toEqual({ node: "ip-10-0-1-7" });
    expect(library.get("rollout-stuck-undo")!.fromAlert(alert({ namespace: "shop", deployment: "api", cluster: "eu1" }))).toEqual({ namespace: "shop", deployment: "api" });
    // The target comes from resolution: a `cluster` label naming a configured kube target.
    const undo = library.get("rollout-stuck-undo")!;
    const r = resolveTargets(undo, alert({ cluster: "eu1" }), { kube: { eu1: {}, us1: {} } }, undo.fromAlert(alert({ cluster: "eu1" })));
    expect(r.params.kube).toBe("eu1");
    expect(r.resolutions[0]!.how).toBe("label");
    expect(library.get("job-failed-diagnose")!.fromAlert(alert({ namespace: "batch", job_name: "nightly-export-2903" }))).toEqual({ namespace: "batch", job: "nightly-export-2903" });
  });
});
