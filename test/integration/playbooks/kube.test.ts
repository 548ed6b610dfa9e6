import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTargets } from "../../../src/targets/registry.ts";
import crashloop from "../../../playbooks/pod-crashloop.ts";
import poolerFailover from "../../../playbooks/db-pooler-failover.ts";
import cordonDrain from "../../../playbooks/node-cordon-drain.ts";
import oomRaise from "../../../playbooks/oom-killed-raise-limit.ts";
import { startFakeKube, type FakeKube } from "../../fixtures/kube/fake-api-server.ts";
import { NS, deployment, list, mergePatch, node, pod, replicaSet } from "../../fixtures/kube/objects.ts";
import { openTestStore, type TestStore } from "../../helpers/db.ts";
import { testEngine } from "../../helpers/engine.ts";
import { output, runWithApprovals, stepStatuses } from "./harness.ts";

const DEP = `/apis/apps/v1/namespaces/${NS}/deployments/api`;
let store: TestStore;
let fake: FakeKube;
let targets: ReturnType<typeof createTargets>;

beforeAll(async () => {
  store = await openTestStore("pg", "playbooks_kube");
});
afterAll(async () => store.close());
beforeEach(async () => {
  fake = await startFakeKube();
  targets = createTargets({ redis: {}, postgres: {}, kube: { prod: { server: fake.url, token: "t", skipTLSVerify: true } } }, { now: () => Date.parse("2025-03-01T12:00:00Z") });
});
afterEach(async () => {
  await targets.close();
  await fake.close();
});

const engineWith = (...playbooks: Parameters<typeof testEngine>[0]["playbooks"]) => testEngine({ db: store.db, playbooks, targets }).engine;

/** A Deployment whose PATCHes the fake applies, with owned ReplicaSets of three revisions. */
function serveDeployment(opts: { newestCreated: string; crashFinished: string }) {
  let d: any = deployment();
  fake.route({ method: "GET", path: DEP, reply: () => ({ body: d }) });
  fake.route({
    method: "PATCH",
    path: DEP,
    reply: (r) => {
      const next = Array.isArray(r.body) ? { ...d, spec: { ...d.spec, template: (r.body as any[])[0].value }, metadata: { ...d.metadata, annotations: (r.body as any[])[1].value } } : mergePatch(d, r.body);
      if (r.query.dryRun !== "All") d = next;
      return { body: next };
    },
  });
  fake.route({
    method: "GET",
    path: `/apis/apps/v1/namespaces/${NS}/replicasets`,
    reply: () => ({
      body: list("ReplicaSetList", "apps/v1", [
        replicaSet(3, "registry.example.com/shop/api:1.4.0", "7c9d6b5f4", opts.newestCreated, { replicas: 3 }),
        replicaSet(2, "registry.example.com/shop/api:1.3.9", "5f8b7", "2025-02-20T10:00:00Z"),
      ]),
    }),
  });
  const crashing = (name: string) => {
    const p: any = pod(name, { waiting: "CrashLoopBackOff", lastReason: "Error", restarts: 6 });
    p.status.containerStatuses[0].lastState.terminated.finishedAt = opts.crashFinished;
    return p;
  };
  fake.route({ method: "GET", path: `/api/v1/namespaces/${NS}/pods`, reply: () => ({ body: list("PodList", "v1", [crashing("api-7c9d6b5f4-aaaaa"), crashing("api-7c9d6b5f4-bbbbb")]) }) });
  fake.route({ method: "GET", path: /\/pods\/[^/]+\/log$/, reply: () => ({ body: "panic: config key DB_URL missing\n", contentType: "text/plain" }) });
  fake.route({ method: "GET", path: `/api/v1/namespaces/${NS}/events`, reply: () => ({ body: list("EventList", "v1", []) }) });
}

describe("pod-crashloop", () => {
  it("rolls back when the crashes began with the newest revision: dry run first, JSON patch after approval", async () => {
    serveDeployment({ newestCreated: "2025-03-01T10:00:00Z", crashFinished: "2025-03-01T10:04:00Z" });
    const engine = engineWith(crashloop);
    const run = await runWithApprovals(engine, "pod-crashloop", { kube: "prod", namespace: NS, deployment: "api" }, {
      beforeApprove: () => fake.mutations().map((m) => m.query.dryRun ?? "REAL"),
    });
    // Before approval only server-side dry runs reached the API server (the engine may preview more than once).
    expect(run.gates.map((g) => g.step)).toEqual(["roll-back"]);
    expect(new Set(run.gates[0]!.before as string[])).toEqual(new Set(["All"]));
    expect(output(run.view, "rollout")).toMatchObject({ beganWithRollout: true, minutesAfterRollout: 4, crashing: 2 });
    expect(output(run.view, "previous-logs")).toMatchObject({ pod: "api-7c9d6b5f4-aaaaa", logs: "panic: config key DB_URL missing\n" });
    expect(fake.requests.find((r) => r.path.endsWith("/log"))!.query).toMatchObject({ previous: "true", container: "api" });
    expect(run.previews["roll-back"]).toContain("~ spec.template.spec.containers[api].image: registry.example.com/shop/api:1.4.0 -> registry.example.com/shop/api:1.3.9");
    const patches = fake.mutations();
    expect(patches.some((p) => p.contentType === "application/json-patch+json" && p.query.dryRun === "All")).toBe(true);
    const real = patches.filter((p) => p.query.dryRun === undefined);
    expect(real.length).toBe(1);
    expect(real[0]).toMatchObject({ contentType: "application/json-patch+json", path: DEP });
    expect((real[0]!.body as any[])[0]).toMatchObject({ op: "replace", path: "/spec/template" });
    expect((real[0]!.body as any[])[0].value.metadata.labels).toEqual({ app: "api" });
    expect((real[0]!.body as any[])[0].value.spec.containers[0].image).toBe("registry.example.com/shop/api:1.3.9");
    expect(stepStatuses(run.view)).toMatchObject({ "roll-back": "succeeded", restart: "skipped", summary: "succeeded" });
  });

  it("restarts instead when the newest revision is old news", async () => {
    serveDeployment({ newestCreated: "2025-02-01T10:00:00Z", crashFinished: "2025-03-01T10:04:00Z" });
    const engine = engineWith(crashloop);
    const run = await runWithApprovals(engine, "pod-crashloop", { kube: "prod", namespace: NS, deployment: "api" });
    expect(output(run.view, "rollout").beganWithRollout).toBe(false);
    expect(stepStatuses(run.view)).toMatchObject({ "roll-back": "skipped", restart: "succeeded" });
    expect(fake.mutations().map((m) => [m.contentType, m.query, m.body])).toEqual([
      ["application/strategic-merge-patch+json", { dryRun: "All" }, { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "2025-03-01T12:00:00Z" } } } } }],
      ["application/strategic-merge-patch+json", {}, { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "2025-03-01T12:00:00Z" } } } } }],
    ]);
  });

  it("maps a KubePodCrashLooping alert's labels to params", () => {
    expect(crashloop.fromAlert({ labels: { namespace: "shop", pod: "api-7c9d6b5f4-x2x7k", container: "api" } } as never)).toEqual({ namespace: "shop", deployment: "api" });
  });
});

describe("oom-killed-raise-limit", () => {
  it("raises the limit 1.5x after approval and restores it when verify fails", async () => {
    let d: any = deployment({ memory: "256Mi" });
    let patches = 0;
    fake.route({ method: "GET", path: DEP, reply: () => ({ body: d }) });
    fake.route({
      method: "PATCH",
      path: DEP,
      reply: (r) => {
        const next = mergePatch(d, r.body);
        // The first real patch "takes" but its rollout exceeds the progress deadline: verify fails.
        if (r.query.dryRun !== "All") d = ++patches === 1 ? { ...next, status: deployment({ progressDeadlineExceeded: true, updated: 1 }).status } : next;
        return { body: next };
      },
    });
    fake.route({ method: "GET", path: `/api/v1/namespaces/${NS}/pods`, reply: () => ({ body: list("PodList", "v1", [pod("api-7c9d6b5f4-aaaaa", { lastReason: "OOMKilled", restarts: 4 })]) }) });
    fake.route({ method: "GET", path: `/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods`, reply: () => ({ body: { kind: "PodMetricsList", apiVersion: "metrics.k8s.io/v1beta1", metadata: {}, items: [{ metadata: { name: "api-7c9d6b5f4-aaaaa", namespace: NS }, timestamp: "2025-03-01T11:59:30Z", window: "30s", containers: [{ name: "api", usage: { cpu: "250m", memory: "261000Ki" } }] }] } }) });

    const engine = engineWith(oomRaise);
    const run = await runWithApprovals(engine, "oom-killed-raise-limit", { kube: "prod", namespace: NS, deployment: "api" });
    expect(output(run.view, "usage")).toEqual({ "api-7c9d6b5f4-aaaaa/api": 261000 * 1024 });
    expect(output(run.view, "new-limit")).toEqual({ container: "api", current: "256Mi", next: "384Mi", reason: null });
    expect(run.previews["raise-limit"]).toContain("~ spec.template.spec.containers[api].resources.limits.memory: 256Mi -> 384Mi");
    expect(run.view.run.status).toBe("rolled_back");
    const bodies = fake.mutations().map((m) => [m.query.dryRun ?? "", (m.body as any).spec.template.spec.containers[0].resources.limits.memory]);
    expect(bodies).toEqual([["All", "384Mi"], ["", "384Mi"], ["", "256Mi"]]);
  });

  it("never raises past the cap", () => {
    const step = oomRaise.steps.find((s) => s.name === "new-limit")!;
    const outputs = { deployment: { containers: [{ name: "api", memoryLimit: "7Gi", memoryLimitBytes: 7 * 2 ** 30 }] }, "oom-kills": { kills: [] } };
    expect(step.run!({ params: { factor: 2, capMi: 8192 }, outputs })).toMatchObject({ next: "8192Mi" });
    expect(step.run!({ params: { factor: 2, capMi: 4096 }, outputs })).toMatchObject({ next: null, reason: "already at or above the cap of 4096Mi" });
  });
});

describe("node-cordon-drain", () => {
  it("cordons (strategic merge), then drains through evictions, skipping DaemonSet pods", async () => {
    let n: any = node("node-a", { diskPressure: true });
    fake.route({ method: "GET", path: "/api/v1/nodes/node-a", reply: () => ({ body: n }) });
    fake.route({ method: "PATCH", path: "/api/v1/nodes/node-a", reply: (r) => { const next = mergePatch(n, r.body); if (r.query.dryRun !== "All") n = next; return { body: next }; } });
    let pods = [pod("api-1", { node: "node-a" }), pod("fluent-bit-x", { node: "node-a", namespace: "logging", owner: { kind: "DaemonSet", name: "fluent-bit" } })];
    fake.route({ method: "GET", path: "/api/v1/pods", reply: () => ({ body: list("PodList", "v1", pods) }) });
    fake.route({ method: "POST", path: /eviction$/, reply: (r) => { pods = pods.filter((p) => p.metadata.name !== (r.body as any).metadata.name); return { status: 201, body: { kind: "Status", apiVersion: "v1", status: "Success", code: 201 } }; } });

    const engine = engineWith(cordonDrain);
    const run = await runWithApprovals(engine, "node-cordon-drain", { kube: "prod", node: "node-a" });
    expect(run.view.run.status).toBe("succeeded");
    expect(run.previews.drain).toBe("drain node/node-a: evict 1 pods, keep 1\n- evict shop/api-1\n  keep logging/fluent-bit-x: DaemonSet-managed");
    expect(fake.mutations().map((m) => `${m.method} ${m.path} ${m.query.dryRun ?? ""} ${m.contentType}`)).toEqual([
      "PATCH /api/v1/nodes/node-a All application/strategic-merge-patch+json",
      "PATCH /api/v1/nodes/node-a  application/strategic-merge-patch+json",
      `POST /api/v1/namespaces/${NS}/pods/api-1/eviction  application/json`,
    ]);
    expect(output(run.view, "drain")).toMatchObject({ complete: true, evicted: ["shop/api-1"] });
  });
});

describe("db-pooler-failover", () => {
  it("switches the ConfigMap host to direct, restarts both deployments and verifies both rollouts", async () => {
    let cm: any = { kind: "ConfigMap", apiVersion: "v1", metadata: { name: "shop-env", namespace: NS }, data: { DB_HOST: "pgbouncer.db.svc", LOG_LEVEL: "info" } };
    fake.route({ method: "GET", path: `/api/v1/namespaces/${NS}/configmaps/shop-env`, reply: () => ({ body: cm }) });
    fake.route({ method: "PATCH", path: `/api/v1/namespaces/${NS}/configmaps/shop-env`, reply: (r) => { const next = mergePatch(cm, r.body); if (r.query.dryRun !== "All") cm = next; return { body: next }; } });
    for (const name of ["api", "worker"]) {
      fake.route({ method: "GET", path: `/apis/apps/v1/namespaces/${NS}/deployments/${name}`, reply: () => ({ body: deployment({ name }) }) });
      fake.route({ method: "PATCH", path: `/apis/apps/v1/namespaces/${NS}/deployments/${name}`, reply: (r) => ({ body: mergePatch(deployment({ name }), r.body) }) });
    }
    fake.route({ method: "GET", path: "/api/v1/namespaces/db/endpoints/pgbouncer", reply: () => ({ body: { kind: "Endpoints", apiVersion: "v1", metadata: { name: "pgbouncer", namespace: "db" } } }) });

    const engine = engineWith(poolerFailover);
    const run = await runWithApprovals(engine, "db-pooler-failover", { kube: "prod",
      namespace: NS, configMap: "shop-env", poolerHost: "pgbouncer.db.svc", directHost: "postgres-primary.db.svc", deployments: ["api", "worker"], poolerService: "db/pgbouncer",
    });
    expect(run.view.run.status).toBe("succeeded");
    expect(output(run.view, "endpoints").pooler).toEqual({ ready: [], notReady: [] });
    expect(run.previews["switch-host"]).toBe("[server dry run] set configmap/shop-env -n shop key DB_HOST\n~ data.DB_HOST: pgbouncer.db.svc -> postgres-primary.db.svc");
    expect(cm.data.DB_HOST).toBe("postgres-primary.db.svc");
    const real = fake.mutations().filter((m) => m.query.dryRun === undefined).map((m) => `${m.path} ${m.contentType}`);
    expect(real).toEqual([
      `/api/v1/namespaces/${NS}/configmaps/shop-env application/merge-patch+json`,
      `/apis/apps/v1/namespaces/${NS}/deployments/api application/strategic-merge-patch+json`,
      `/apis/apps/v1/namespaces/${NS}/deployments/worker application/strategic-merge-patch+json`,
    ]);
  });
});
