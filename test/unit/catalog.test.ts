import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FAILURE_MODE_IDS, catalog, failureMode, findFailureMode, isFailureModeId } from "../../src/catalog/index.ts";

/* A copy of the ids in ../shared/failure-modes.md, so the test also runs where that file is absent. */
const DOCUMENTED = `
pod-crashloop pod-not-ready image-pull-backoff oom-killed deployment-replicas-mismatch
deployment-rollout-stuck statefulset-replicas-mismatch job-failed hpa-maxed-out cpu-throttling
liveness-probe-loop api-deadlock node-not-ready node-unreachable node-disk-pressure
node-memory-pressure node-memory-high kubelet-down capacity-overcommit disk-filling
inode-exhaustion pv-filling clock-skew coredns-down dns-latency dns-servfail target-down
slo-error-budget-burn cert-expiry endpoint-down latency-slo error-rate-5xx rate-limited-429
retry-storm cascading-failure circuit-breaker-open thread-starvation memory-leak connection-storm
postgres-down postgres-connections-exhausted postgres-low-connections postgres-replication-lag
postgres-deadlocks postgres-rollback-rate autovacuum-stalled xid-wraparound slow-query
db-pooler-unreachable redis-down redis-maxmemory redis-host-memory redis-connections
cache-stampede hot-key stale-cache metrics-pipeline-down config-reload-failure bad-deploy secret-leak
`.split(/\s+/).filter(Boolean);

const SHARED_DOC = fileURLToPath(new URL("../../../shared/failure-modes.md", import.meta.url));
const PLAYBOOKS_DIR = fileURLToPath(new URL("../../playbooks/", import.meta.url));

function idsInDocument(markdown: string): string[] {
  return [...markdown.matchAll(/^- `([a-z0-9-]+)`/gm)].map((m) => m[1]!);
}

describe("failure-mode catalog", () => {
  const ids = catalog.map((m) => m.id);

  it("holds every documented id, once, and nothing else", () => {
    expect(DOCUMENTED).toHaveLength(60);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...DOCUMENTED].sort());
    expect([...FAILURE_MODE_IDS].sort()).toEqual([...DOCUMENTED].sort());
  });

  it.runIf(existsSync(SHARED_DOC))("matches ../shared/failure-modes.md", () => {
    const documented = idsInDocument(readFileSync(SHARED_DOC, "utf8"));
    expect(documented.length).toBeGreaterThanOrEqual(60);
    expect([...ids].sort()).toEqual([...new Set(documented)].sort());
  });

  it("looks ids up and refuses unknown ones", () => {
    expect(failureMode("redis-maxmemory").category).toBe("caches");
    expect(findFailureMode("no-such-mode")).toBeUndefined();
    expect(isFailureModeId("oom-killed")).toBe(true);
    expect(isFailureModeId("oom")).toBe(false);
  });

  it.each(catalog.map((m) => [m.id, m] as const))("%s is complete", (_id, mode) => {
    expect(mode.symptom.length).toBeGreaterThan(10);
    expect(mode.symptom).not.toMatch(/\n/);
    expect(mode.defences.length).toBeGreaterThan(0);
    // Recognisable by something other than a bare label.
    expect(mode.signals.alertnames.length + mode.signals.textPatterns.length).toBeGreaterThan(0);
    for (const a of mode.signals.alertnames) expect(a.name).toMatch(/^[A-Za-z][A-Za-z0-9()>%]*$/);
  });

  it("never lists one alert name under two failure modes", () => {
    const owner = new Map<string, string>();
    for (const mode of catalog) {
      for (const { name } of mode.signals.alertnames) {
        expect(owner.get(name), `${name} in ${owner.get(name)} and ${mode.id}`).toBeUndefined();
        owner.set(name, mode.id);
      }
    }
  });

  it("has no text pattern that fires on a lone generic word", () => {
    const generic = ["error", "down", "alert", "firing", "critical", "warning", "failed", "timeout", "latency", "memory", "disk", "node", "pod", "redis", "postgres", "high"];
    for (const mode of catalog) {
      for (const pattern of mode.signals.textPatterns) {
        for (const word of generic) expect(pattern.test(word), `${mode.id} ${pattern} matches "${word}"`).toBe(false);
      }
    }
  });

  it("uses the alert names the public rule sets ship", () => {
    const names = (id: Parameters<typeof failureMode>[0]) => failureMode(id).signals.alertnames.map((a) => a.name);
    expect(names("pod-crashloop")).toContain("KubePodCrashLooping");
    expect(names("disk-filling")).toContain("NodeFilesystemSpaceFillingUp");
    expect(names("coredns-down")).toContain("CoreDNSDown");
    expect(names("redis-maxmemory")).toContain("RedisOutOfConfiguredMaxmemory");
    expect(names("postgres-connections-exhausted")).toContain("PostgresqlTooManyConnections");
    expect(names("cert-expiry")).toContain("CertManagerCertExpirySoon");
    expect(catalog.flatMap((m) => m.signals.alertnames.map((a) => a.name))).not.toContain("Watchdog");
  });

  it.runIf(existsSync(PLAYBOOKS_DIR))("names only playbooks that exist (one file per playbook id)", () => {
    const existing = new Set(readdirSync(PLAYBOOKS_DIR).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).map((f) => f.slice(0, -3)));
    for (const mode of catalog) for (const id of mode.playbooks) expect(existing.has(id), `${mode.id} -> ${id}`).toBe(true);
  });
});
