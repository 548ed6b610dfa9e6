import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { catalog } from "../../src/catalog/index.ts";
import { parseAlertFile } from "../../src/ingest/parse-file.ts";
import { createMatcher, matchAlert } from "../../src/match/index.ts";
import { compileClassifier } from "../../src/match/classify.ts";
import { alertText } from "../../src/match/alert-text.ts";
import { alertSchema, type Alert } from "../../src/sdk/alert.ts";
import { playbook, type AnyPlaybook } from "../../src/sdk/playbook.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/alerts/", import.meta.url));

/* Small stand-ins for the library: ids and rules shaped like the real ones. */
const stub = (id: string, failureModes: string[], match: AnyPlaybook["match"] = []) =>
  playbook({ id, title: id, summary: id, failureModes, match, params: z.object({}) }).diagnose("look", () => null) as unknown as AnyPlaybook;
const PLAYBOOKS: AnyPlaybook[] = [
  stub("redis-maxmemory-policy", ["redis-maxmemory"], [{ alertname: /^Redis(OutOfConfiguredMaxmemory|OutOfMemory)$/ }, { text: /OOM command not allowed/i }]),
  stub("pod-crashloop", ["pod-crashloop", "bad-deploy"], [{ alertname: "KubePodCrashLooping" }, { text: /crash ?loop/i, weight: 0.8 }]),
  stub("oom-killed-raise-limit", ["oom-killed", "memory-leak"]),
  stub("postgres-cancel-blocker", ["postgres-deadlocks", "slow-query"]),
  stub("custom-worker-restart", ["thread-starvation"], [{ alertname: "CheckoutWorkerStalled" }]),
  stub("needs-only-source", ["stale-cache"], [{ source: "slack" }]),
];

function alert(fields: Partial<Alert> & { title: string }): Alert {
  return alertSchema.parse({ source: "slack", fingerprint: `fp-${fields.title.length}`, status: "firing", ...fields });
}

function loadCorpus(): { file: string; alert: Alert; expect: string | null }[] {
  const { files } = JSON.parse(readFileSync(join(FIXTURES, "corpus.json"), "utf8")) as { files: { file: string; expect: (string | null)[] }[] };
  return files.flatMap(({ file, expect }) => {
    const alerts = parseAlertFile(JSON.parse(readFileSync(join(FIXTURES, file), "utf8")), file);
    expect.length === alerts.length || (() => { throw new Error(`${file}: ${alerts.length} alerts, ${expect.length} expectations`); })();
    return alerts.map((a, i) => ({ file, alert: a, expect: expect[i]! }));
  });
}

describe("matching the fixture corpus", () => {
  const corpus = loadCorpus();
  const matcher = createMatcher(PLAYBOOKS, catalog);

  it("has at least 60 alerts from real rule sets, negatives and resolved ones included", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    expect(corpus.filter((c) => c.expect === null).length).toBeGreaterThanOrEqual(5);
    expect(corpus.filter((c) => c.alert.status === "resolved").length).toBeGreaterThanOrEqual(2);
    expect(new Set(corpus.map((c) => c.alert.source))).toEqual(new Set(["alertmanager", "pagerduty", "slack"]));
  });

  it("recognises the failure mode, top-1, for at least 90% of them", () => {
    const misses = corpus.filter((c) => matcher.match(c.alert).failureMode !== c.expect);
    const accuracy = 1 - misses.length / corpus.length;
    console.log(`match corpus: top-1 accuracy ${(accuracy * 100).toFixed(1)}% over ${corpus.length} alerts`);
    for (const m of misses) console.log(`  miss ${m.file}: expected ${m.expect}, got ${matcher.match(m.alert).failureMode}`);
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it("never proposes a remedy for a resolved alert or an unrecognised one", () => {
    for (const c of corpus) {
      const r = matcher.match(c.alert);
      if (c.alert.status === "resolved" || r.failureMode === null) expect(r.candidates, c.file).toEqual([]);
    }
  });

  it("gives every candidate reasons, ranked best first", () => {
    for (const c of corpus) {
      const { candidates } = matcher.match(c.alert);
      for (const cand of candidates) expect(cand.reasons.length).toBeGreaterThan(0);
      expect(candidates.map((x) => x.score)).toEqual([...candidates.map((x) => x.score)].sort((a, b) => b - a));
    }
  });

  it("gets the same answers with and without the word gate", () => {
    const gated = compileClassifier(catalog);
    const plain = compileClassifier(catalog, { prefilter: false });
    const extra = ["CrashLoopBackOff", "xCrashLoopBackOff reason", "node.kubernetes.io/unreachable", "up == 0", "pgbouncer:6432 refused", "hit the max replicas"];
    for (const a of [...corpus.map((c) => c.alert), ...extra.map((title) => alert({ title }))]) {
      const text = alertText(a);
      const strip = (xs: ReturnType<typeof gated.classify>) => xs.map((x) => [x.mode.id, x.score, x.reasons]);
      const g = strip(gated.classify(a, text, text.toLowerCase(), a.labels.alertname ?? null, true));
      const p = strip(plain.classify(a, text, text.toLowerCase(), a.labels.alertname ?? null, true));
      expect(g, a.title).toEqual(p);
    }
  });
});

describe("matchAlert", () => {
  it("reads 'redis OOM command not allowed' as redis-maxmemory and proposes its playbook", () => {
    const r = matchAlert(alert({ title: "redis OOM command not allowed" }), PLAYBOOKS, catalog);
    expect(r.failureMode).toBe("redis-maxmemory");
    expect(r.candidates[0]?.playbook).toBe("redis-maxmemory-policy");
    expect(r.candidates[0]?.reasons).toContain("text 'OOM command not allowed'");
  });

  it("returns null and no candidates for nonsense or a lone generic word", () => {
    for (const title of ["the printer is on fire", "error", "something is down", "high latency?", "critical", ""]) {
      const r = matchAlert(alert({ title: title || "x", labels: { namespace: "shop", container: "api" } }), PLAYBOOKS, catalog);
      expect(r, title).toMatchObject({ failureMode: null, candidates: [] });
    }
  });

  it("names the alertname and its rule set in the reasons", () => {
    const a = alert({ source: "alertmanager", title: "KubePodCrashLooping: Pod is crash looping.", labels: { alertname: "KubePodCrashLooping", reason: "CrashLoopBackOff" } });
    const r = matchAlert(a, PLAYBOOKS, catalog);
    expect(r.failureMode).toBe("pod-crashloop");
    expect(r.candidates[0]).toMatchObject({ playbook: "pod-crashloop" });
    expect(r.candidates[0]!.reasons).toEqual(expect.arrayContaining(["alertname KubePodCrashLooping (kubernetes-mixin)", "label reason=CrashLoopBackOff", "rule: alertname KubePodCrashLooping"]));
    expect(r.candidates[0]!.score).toBeGreaterThan(0.9);
  });

  it("reports a resolved alert's failure mode but proposes nothing", () => {
    const a = alert({ source: "alertmanager", status: "resolved", title: "RedisOutOfConfiguredMaxmemory", labels: { alertname: "RedisOutOfConfiguredMaxmemory" } });
    expect(matchAlert(a, PLAYBOOKS, catalog)).toMatchObject({ failureMode: "redis-maxmemory", candidates: [] });
  });

  it("lets an exact alert name outrank text that points elsewhere", () => {
    const a = alert({ title: "KubePodCrashLooping", labels: { alertname: "KubePodCrashLooping" }, annotations: { description: "container was OOMKilled" } });
    const r = matchAlert(a, PLAYBOOKS, catalog);
    expect(r.failureMode).toBe("pod-crashloop");
    // The OOM text alone makes a runner-up too weak to propose its playbook.
    expect(r.candidates.map((c) => c.playbook)).toEqual(["pod-crashloop"]);
  });

  it("takes the alert name from an Alertmanager subject in a PagerDuty title", () => {
    const r = matchAlert(alert({ source: "pagerduty", title: "[FIRING:1] RedisOutOfConfiguredMaxmemory cache (redis-cache-0 warning)" }), PLAYBOOKS, catalog);
    expect(r.failureMode).toBe("redis-maxmemory");
    expect(r.candidates[0]!.reasons).toContain("title names RedisOutOfConfiguredMaxmemory (awesome-prometheus-alerts)");
  });

  it("matches alert names case-insensitively, a little more weakly", () => {
    const r = matchAlert(alert({ title: "PostgreSQLTooManyConnections", labels: { alertname: "PostgreSQLTooManyConnections" } }), PLAYBOOKS, catalog);
    expect(r.failureMode).toBe("postgres-connections-exhausted");
  });

  it("uses a playbook's own rule when no catalog signal fits, and ignores source-only rules", () => {
    const r = matchAlert(alert({ source: "alertmanager", title: "CheckoutWorkerStalled", labels: { alertname: "CheckoutWorkerStalled" } }), PLAYBOOKS, catalog);
    expect(r.failureMode).toBe("thread-starvation");
    expect(r.candidates.map((c) => c.playbook)).toEqual(["custom-worker-restart"]);
    expect(matchAlert(alert({ title: "hello from slack" }), PLAYBOOKS, catalog).candidates).toEqual([]);
  });

  it("tolerates playbooks and catalog entries that name unknown ids", () => {
    const odd = [...PLAYBOOKS, stub("future-playbook", ["not-a-mode"], [{ text: /OOM command not allowed/i, weight: 0.5 }])];
    const r = createMatcher(odd, catalog).match(alert({ title: "OOM command not allowed" }));
    expect(r.failureMode).toBe("redis-maxmemory");
    expect(r.candidates[0]!.playbook).toBe("redis-maxmemory-policy");
  });

  it("is pure: the same alert gives the same answer, and global regexps in rules do not leak state", () => {
    const sticky = [stub("g", ["redis-maxmemory"], [{ text: /OOM command/gi }])];
    const m = createMatcher(sticky, catalog);
    const a = alert({ title: "OOM command not allowed" });
    expect(m.match(a)).toEqual(m.match(a));
  });
});
