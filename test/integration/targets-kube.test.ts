import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTargets } from "../../src/targets/registry.ts";
import type { KubeTarget } from "../../src/targets/types.ts";
import { startFakeKube, status, type FakeKube } from "../fixtures/kube/fake-api-server.ts";
import { NS, deployment, event, list, mergePatch, node, pod, replicaSet } from "../fixtures/kube/objects.ts";

const DEP = `/apis/apps/v1/namespaces/${NS}/deployments/api`;
const NOW = Date.parse("2025-03-01T12:00:00Z");

let fake: FakeKube;
let kube: KubeTarget;
let close: () => Promise<void>;
let clock = NOW;

beforeEach(async () => {
  fake = await startFakeKube();
  clock = NOW;
  const targets = createTargets(
    { redis: {}, postgres: {}, kube: { prod: { server: fake.url, token: "t0ken", skipTLSVerify: true } } },
    { now: () => clock, sleep: async (ms) => void (clock += ms) },
  );
  kube = targets.kube("prod");
  close = targets.close;
});

afterEach(async () => {
  await close();
  await fake.close();
});

describe("kube target: reads", () => {
  it("lists pods by selector with status, restarts and last termination reason", async () => {
    fake.route({
      method: "GET",
      path: `/api/v1/namespaces/${NS}/pods`,
      reply: () => ({ body: list("PodList", "v1", [pod("api-1", { waiting: "CrashLoopBackOff", lastReason: "OOMKilled", restarts: 7 }), pod("api-2")]) }),
    });
    const pods = await kube.listPods(NS, "app=api");
    expect(fake.requests[0]!.query).toEqual({ labelSelector: "app=api" });
    expect(pods[0]).toMatchObject({
      name: "api-1",
      ready: false,
      restarts: 7,
      reason: "CrashLoopBackOff",
      ownerKind: "ReplicaSet",
      containers: [{ name: "api", state: "waiting", lastTermination: { reason: "OOMKilled", exitCode: 137, finishedAt: "2025-03-01T10:05:42.000Z" } }],
    });
    expect(pods[1]).toMatchObject({ name: "api-2", ready: true, restarts: 0, reason: null });
  });

  it("reads previous container logs as text/plain and events by field selector", async () => {
    fake.route({ method: "GET", path: `/api/v1/namespaces/${NS}/pods/api-1/log`, reply: () => ({ body: "panic: nil map\n", contentType: "text/plain" }) });
    fake.route({ method: "GET", path: `/api/v1/namespaces/${NS}/events`, reply: () => ({ body: list("EventList", "v1", [event("api-1", "BackOff", "Back-off restarting failed container", "Warning", 41)]) }) });
    expect(await kube.logs(NS, "api-1", { container: "api", previous: true, tailLines: 50 })).toBe("panic: nil map\n");
    expect(fake.requests[0]!.query).toEqual({ container: "api", previous: "true", tailLines: "50", limitBytes: "262144" });
    const events = await kube.events(NS, "api-1");
    expect(fake.requests[1]!.query).toEqual({ fieldSelector: "involvedObject.name=api-1,involvedObject.kind=Pod" });
    expect(events).toEqual([{ type: "Warning", reason: "BackOff", message: "Back-off restarting failed container", count: 41, lastSeen: "2025-03-01T10:05:00.000Z", object: "Pod/api-1" }]);
  });

  it("applies kubectl's rollout status rules", async () => {
    let d: object = deployment({ generation: 8, observedGeneration: 7 });
    fake.route({ method: "GET", path: DEP, reply: () => ({ body: d }) });
    expect(await kube.rolloutStatus(NS, "api")).toEqual({ done: false, failed: false, message: "Waiting for deployment spec update to be observed..." });
    d = deployment({ updated: 1 });
    expect((await kube.rolloutStatus(NS, "api")).message).toBe('Waiting for deployment "api" rollout to finish: 1 out of 3 new replicas have been updated...');
    d = deployment({ total: 4 });
    expect((await kube.rolloutStatus(NS, "api")).message).toBe('Waiting for deployment "api" rollout to finish: 1 old replicas are pending termination...');
    d = deployment({ available: 2 });
    expect((await kube.rolloutStatus(NS, "api")).message).toBe('Waiting for deployment "api" rollout to finish: 2 of 3 updated replicas are available...');
    d = deployment({ progressDeadlineExceeded: true, updated: 1 });
    expect(await kube.rolloutStatus(NS, "api")).toEqual({ done: false, failed: true, message: 'deployment "api" exceeded its progress deadline' });
    d = deployment();
    expect(await kube.rolloutStatus(NS, "api")).toEqual({ done: true, failed: false, message: 'deployment "api" successfully rolled out' });
  });

  it("waits for a rollout until done, or returns the last status at the timeout", async () => {
    let polls = 0;
    fake.route({ method: "GET", path: DEP, reply: () => ({ body: ++polls < 3 ? deployment({ available: 1 }) : deployment() }) });
    expect((await kube.waitForRollout(NS, "api", { timeoutMs: 60_000, intervalMs: 1_000 })).done).toBe(true);
    expect(polls).toBe(3);
    polls = -100;
    const st = await kube.waitForRollout(NS, "api", { timeoutMs: 5_000, intervalMs: 1_000 });
    expect(st.done).toBe(false);
    expect(st.message).toContain("1 of 3 updated replicas are available");
  });

  it("reads node conditions and endpoints", async () => {
    fake.route({ method: "GET", path: "/api/v1/nodes/node-a", reply: () => ({ body: node("node-a", { ready: false, diskPressure: true }) }) });
    fake.route({
      method: "GET",
      path: "/api/v1/namespaces/kube-system/endpoints/kube-dns",
      reply: () => ({
        body: {
          kind: "Endpoints", apiVersion: "v1", metadata: { name: "kube-dns", namespace: "kube-system" },
          subsets: [{ addresses: [{ ip: "10.244.0.5", targetRef: { kind: "Pod", name: "coredns-1", namespace: "kube-system" } }], notReadyAddresses: [{ ip: "10.244.1.7", targetRef: { kind: "Pod", name: "coredns-2" } }], ports: [{ name: "dns", port: 53, protocol: "UDP" }] }],
        },
      }),
    });
    const n = await kube.getNode("node-a");
    expect(n.ready).toBe(false);
    expect(n.conditions.find((c) => c.type === "DiskPressure")).toMatchObject({ status: "True", reason: "KubeletHasDiskPressure" });
    expect(await kube.endpoints("kube-system", "kube-dns")).toEqual({ ready: ["10.244.0.5:53 (coredns-1)"], notReady: ["10.244.1.7:53 (coredns-2)"] });
  });
});

describe("kube target: mutations", () => {
  beforeEach(() => {
    fake.route({ method: "GET", path: DEP, reply: () => ({ body: deployment() }) });
    fake.route({ method: "PATCH", path: DEP, reply: (req) => ({ body: Array.isArray(req.body) ? { ...deployment(), spec: { ...deployment().spec, template: (req.body as { value: unknown }[])[0]!.value } } : mergePatch(deployment(), req.body) }) });
  });

  it("previews a rollout restart with a server-side dry run, then runs it", async () => {
    const preview = await kube.rolloutRestart(NS, "api", { dryRun: true });
    const patch = fake.mutations()[0]!;
    expect(patch).toEqual({
      method: "PATCH",
      path: DEP,
      query: { dryRun: "All" },
      contentType: "application/strategic-merge-patch+json",
      body: { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "2025-03-01T12:00:00Z" } } } } },
    });
    expect(preview.dryRun).toBe(true);
    expect(preview.summary).toBe("[server dry run] rollout restart deployment/api -n shop");
    expect(preview.diff).toBe("+ spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt: 2025-03-01T12:00:00Z");
    await kube.rolloutRestart(NS, "api");
    expect(fake.mutations()[1]!.query).toEqual({});
  });

  it("rolls back like kubectl rollout undo: previous revision's template without pod-template-hash, JSON patch", async () => {
    fake.route({
      method: "GET",
      path: `/apis/apps/v1/namespaces/${NS}/replicasets`,
      reply: () => ({
        body: list("ReplicaSetList", "apps/v1", [
          replicaSet(1, "registry.example.com/shop/api:1.3.8", "6d4f8", "2025-02-01T10:00:00Z"),
          replicaSet(3, "registry.example.com/shop/api:1.4.0", "7c9d6b5f4", "2025-03-01T10:00:00Z", { replicas: 3 }),
          replicaSet(2, "registry.example.com/shop/api:1.3.9", "5f8b7", "2025-02-20T10:00:00Z", { changeCause: "deploy 1.3.9" }),
          { ...replicaSet(9, "other:1", "zz", "2025-03-01T11:00:00Z", { deployment: "api" }), metadata: { ...replicaSet(9, "other:1", "zz", "x").metadata, ownerReferences: [] } },
        ]),
      }),
    });
    const undo = await kube.rolloutUndo(NS, "api", { dryRun: true });
    expect(fake.requests.find((r) => r.path.endsWith("/replicasets"))!.query).toEqual({ labelSelector: "app=api" });
    const patch = fake.mutations()[0]!;
    expect(patch.contentType).toBe("application/json-patch+json");
    expect(patch.query).toEqual({ dryRun: "All" });
    const expectedTemplate = replicaSet(2, "registry.example.com/shop/api:1.3.9", "5f8b7", "x").spec.template;
    delete (expectedTemplate.metadata.labels as Record<string, string>)["pod-template-hash"];
    expect(patch.body).toEqual([
      { op: "replace", path: "/spec/template", value: expectedTemplate },
      {
        op: "replace",
        path: "/metadata/annotations",
        value: {
          "deployment.kubernetes.io/revision": "3",
          "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"apps/v1","kind":"Deployment"}',
          "kubernetes.io/change-cause": "deploy 1.3.9",
        },
      },
    ]);
    expect(undo).toMatchObject({ fromRevision: 3, toRevision: 2, skipped: false, dryRun: true });
    expect(undo.summary).toContain("revision 3 -> 2 (replicaset api-5f8b7)");
    expect(undo.diff).toContain("~ spec.template.spec.containers[api].image: registry.example.com/shop/api:1.4.0 -> registry.example.com/shop/api:1.3.9");
  });

  it("refuses an undo without history", async () => {
    fake.route({ method: "GET", path: `/apis/apps/v1/namespaces/${NS}/replicasets`, reply: () => ({ body: list("ReplicaSetList", "apps/v1", [replicaSet(3, "a:1", "h3", "2025-03-01T10:00:00Z")]) }) });
    await expect(kube.rolloutUndo(NS, "api")).rejects.toThrow(/no rollout history found for deployment "api"/);
    expect(fake.mutations()).toEqual([]);
  });

  it("sets one container's memory limit with a strategic merge patch keyed by container name", async () => {
    const c = await kube.setMemoryLimit(NS, "api", "api", "384Mi", { dryRun: true });
    expect(fake.mutations()[0]).toMatchObject({
      contentType: "application/strategic-merge-patch+json",
      query: { dryRun: "All" },
      body: { spec: { template: { spec: { containers: [{ name: "api", resources: { limits: { memory: "384Mi" } } }] } } } },
    });
    expect(c.diff).toBe("~ spec.template.spec.containers[api].resources.limits.memory: 256Mi -> 384Mi");
    await expect(kube.setMemoryLimit(NS, "api", "api", "lots")).rejects.toThrow(/not a Kubernetes quantity/);
  });

  it("scales through the scale subresource and patches one ConfigMap key with merge patches", async () => {
    const scale = (n: number) => ({ kind: "Scale", apiVersion: "autoscaling/v1", metadata: { name: "api", namespace: NS }, spec: { replicas: n }, status: { replicas: 3, selector: "app=api" } });
    fake.route({ method: "GET", path: `${DEP}/scale`, reply: () => ({ body: scale(3) }) });
    fake.route({ method: "PATCH", path: `${DEP}/scale`, reply: (r) => ({ body: scale((r.body as { spec: { replicas: number } }).spec.replicas) }) });
    const cm = { kind: "ConfigMap", apiVersion: "v1", metadata: { name: "api-config", namespace: NS }, data: { DB_HOST: "pgbouncer.db.svc", LOG_LEVEL: "info" } };
    fake.route({ method: "GET", path: `/api/v1/namespaces/${NS}/configmaps/api-config`, reply: () => ({ body: cm }) });
    fake.route({ method: "PATCH", path: `/api/v1/namespaces/${NS}/configmaps/api-config`, reply: (r) => ({ body: mergePatch(cm, r.body) }) });

    const s = await kube.scale(NS, "api", 5);
    expect(fake.mutations()[0]).toEqual({ method: "PATCH", path: `${DEP}/scale`, query: {}, contentType: "application/merge-patch+json", body: { spec: { replicas: 5 } } });
    expect(s.summary).toBe("scale deployment/api -n shop: 3 -> 5");
    const c = await kube.setConfigMapKey(NS, "api-config", "DB_HOST", "postgres-direct.db.svc", { dryRun: true });
    expect(fake.mutations()[1]).toEqual({
      method: "PATCH",
      path: `/api/v1/namespaces/${NS}/configmaps/api-config`,
      query: { dryRun: "All" },
      contentType: "application/merge-patch+json",
      body: { data: { DB_HOST: "postgres-direct.db.svc" } },
    });
    expect(c.diff).toBe("~ data.DB_HOST: pgbouncer.db.svc -> postgres-direct.db.svc");
    expect(await kube.getConfigMap(NS, "api-config")).toEqual(cm.data);
  });

  it("labels, unlabels, cordons and uncordons nodes", async () => {
    let n: object = node("node-a", { labels: { pool: "batch" } });
    fake.route({ method: "GET", path: "/api/v1/nodes/node-a", reply: () => ({ body: n }) });
    fake.route({ method: "PATCH", path: "/api/v1/nodes/node-a", reply: (r) => ({ body: (n = mergePatch(n, r.body)) }) });
    await kube.labelNode("node-a", "workload/ingest", "true");
    const un = await kube.labelNode("node-a", "pool", null);
    await kube.cordon("node-a", { dryRun: true });
    await kube.uncordon("node-a");
    expect(fake.mutations().map((m) => [m.contentType, m.query, m.body])).toEqual([
      ["application/merge-patch+json", {}, { metadata: { labels: { "workload/ingest": "true" } } }],
      ["application/merge-patch+json", {}, { metadata: { labels: { pool: null } } }],
      ["application/strategic-merge-patch+json", { dryRun: "All" }, { spec: { unschedulable: true } }],
      ["application/strategic-merge-patch+json", {}, { spec: { unschedulable: null } }],
    ]);
    expect(un.diff).toBe("- metadata.labels.pool: batch");
  });
});

describe("kube target: drain", () => {
  it("evicts through the Eviction API, skips DaemonSet and mirror pods, and backs off while a PDB answers 429", async () => {
    const pods = [
      pod("api-1", { node: "node-a" }),
      pod("db-proxy-0", { node: "node-a", app: "db-proxy", owner: { kind: "StatefulSet", name: "db-proxy" } }),
      pod("fluent-bit-x", { node: "node-a", namespace: "logging", owner: { kind: "DaemonSet", name: "fluent-bit" } }),
      pod("kube-apiserver-node-a", { node: "node-a", namespace: "kube-system", owner: { kind: "Node", name: "node-a" }, mirror: true }),
    ];
    let present = [...pods];
    let pdbRefusals = 2;
    fake.route({ method: "GET", path: "/api/v1/pods", reply: () => ({ body: list("PodList", "v1", present) }) });
    fake.route({
      method: "POST",
      path: /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/eviction$/,
      reply: (r) => {
        const name = (r.body as { metadata: { name: string } }).metadata.name;
        if (name === "db-proxy-0" && pdbRefusals-- > 0) {
          return status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.");
        }
        present = present.filter((p) => p.metadata.name !== name);
        return { status: 201, body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 } };
      },
    });

    const preview = await kube.drain("node-a", { dryRun: true, deadlineMs: 60_000 });
    expect(fake.mutations()).toEqual([]);
    expect(preview.evicted).toEqual(["shop/api-1", "shop/db-proxy-0"]);
    expect(preview.skipped).toEqual([
      { pod: "logging/fluent-bit-x", reason: "DaemonSet-managed" },
      { pod: "kube-system/kube-apiserver-node-a", reason: "mirror pod (static, managed by the kubelet)" },
    ]);

    const res = await kube.drain("node-a", { deadlineMs: 60_000, backoffMs: 5_000 });
    expect(fake.requests.find((r) => r.path === "/api/v1/pods")!.query).toEqual({ fieldSelector: "spec.nodeName=node-a" });
    const evictions = fake.mutations();
    expect(evictions.map((e) => e.path)).toEqual([
      `/api/v1/namespaces/${NS}/pods/api-1/eviction`,
      `/api/v1/namespaces/${NS}/pods/db-proxy-0/eviction`,
      `/api/v1/namespaces/${NS}/pods/db-proxy-0/eviction`,
      `/api/v1/namespaces/${NS}/pods/db-proxy-0/eviction`,
    ]);
    expect(evictions[0]).toMatchObject({ contentType: "application/json", body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "api-1", namespace: NS } } });
    expect(res).toMatchObject({ complete: true, remaining: [], evicted: ["shop/api-1", "shop/db-proxy-0"] });
  });

  it("stops at the deadline while the PDB keeps refusing, and says which pods remain", async () => {
    fake.route({ method: "GET", path: "/api/v1/pods", reply: () => ({ body: list("PodList", "v1", [pod("db-proxy-0", { node: "node-b" })]) }) });
    fake.route({ method: "POST", path: /eviction$/, reply: () => status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.") });
    const res = await kube.drain("node-b", { deadlineMs: 20_000, backoffMs: 5_000 });
    expect(res).toMatchObject({ complete: false, evicted: [], remaining: ["shop/db-proxy-0"] });
    // Attempts at 0, 5, 10, 15 and 20 s; the next would land past the deadline.
    expect(fake.mutations().length).toBe(5);
  });
});

describe("targets registry", () => {
  it("names the missing key when a target is not configured", () => {
    const t = createTargets({ redis: { main: { url: "redis://127.0.0.1:6379" } }, postgres: {}, kube: {} });
    expect(() => t.redis("cache")).toThrow("no redis target named 'cache' is configured; add targets.redis.cache.url to BELAY_CONFIG (configured: main)");
    expect(() => t.postgres("main")).toThrow("no postgres target named 'main' is configured; add targets.postgres.main.url to BELAY_CONFIG");
    expect(() => t.kube("toString")).toThrow(/no kube target named 'toString'/);
  });

  it("refuses an http:// server without skipTLSVerify", async () => {
    const t = createTargets({ redis: {}, postgres: {}, kube: { dev: { server: fake.url } } });
    await expect(t.kube("dev").getNode("node-a")).rejects.toThrow(/HTTP protocol is not allowed/);
  });
});
