import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTargets } from "../../src/targets/registry.ts";
import { formatKubePermission, kubeAccess, KUBE_METHODS, permissionOfRequest, type KubeMethod } from "../../src/targets/kube-access.ts";
import type { KubeTarget } from "../../src/targets/types.ts";
import { startFakeKube, type FakeKube } from "../fixtures/kube/fake-api-server.ts";
import { NS, deployment, event, list, node, pod, replicaSet } from "../fixtures/kube/objects.ts";

/**
 * Every Kubernetes target method, driven against a fake API server over real HTTP: what it
 * sends, mapped to RBAC permissions the way the API server's authorizer maps them, is exactly
 * what src/targets/kube-access.ts says it needs (previews included). The RBAC generated from
 * the playbooks rests on this table.
 */
const DEP = `/apis/apps/v1/namespaces/${NS}/deployments/api`;
let fake: FakeKube;
let kube: KubeTarget;
let close: () => Promise<void>;
let clock = Date.parse("2025-03-01T12:00:00Z");

beforeAll(async () => {
  fake = await startFakeKube();
  const configMap = { kind: "ConfigMap", apiVersion: "v1", metadata: { name: "cfg", namespace: NS }, data: { pool: "a" } };
  const scale = { kind: "Scale", apiVersion: "autoscaling/v1", metadata: { name: "api", namespace: NS }, spec: { replicas: 3 }, status: { replicas: 3 } };
  let onNode = [pod("api-1", { node: "node-a" })];
  const routes: [string, string | RegExp, () => { status?: number; body: unknown; contentType?: string }][] = [
    ["GET", DEP, () => ({ body: deployment() })],
    ["PATCH", DEP, () => ({ body: deployment() })],
    ["GET", `${DEP}/scale`, () => ({ body: scale })],
    ["PATCH", `${DEP}/scale`, () => ({ body: { ...scale, spec: { replicas: 4 } } })],
    [
      "GET",
      `/apis/apps/v1/namespaces/${NS}/replicasets`,
      () => ({
        body: list("ReplicaSetList", "apps/v1", [
          replicaSet(2, "registry.example.com/shop/api:1.3.9", "5f8b7", "2025-02-20T10:00:00Z"),
          replicaSet(3, "registry.example.com/shop/api:1.4.0", "7c9d6b5f4", "2025-03-01T10:00:00Z", { replicas: 3 }),
        ]),
      }),
    ],
    ["GET", `/api/v1/namespaces/${NS}/pods`, () => ({ body: list("PodList", "v1", [pod("api-1")]) })],
    ["GET", `/api/v1/namespaces/${NS}/events`, () => ({ body: list("EventList", "v1", [event("api-1", "BackOff", "Back-off")]) })],
    ["GET", `/api/v1/namespaces/${NS}/pods/api-1/log`, () => ({ body: "panic\n", contentType: "text/plain" })],
    ["GET", `/api/v1/namespaces/${NS}/configmaps/cfg`, () => ({ body: configMap })],
    ["PATCH", `/api/v1/namespaces/${NS}/configmaps/cfg`, () => ({ body: configMap })],
    [
      "GET",
      `/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods`,
      () => ({ body: { kind: "PodMetricsList", apiVersion: "metrics.k8s.io/v1beta1", items: [{ metadata: { name: "api-1" }, containers: [{ name: "api", usage: { memory: "100Mi" } }] }] } }),
    ],
    ["GET", "/api/v1/nodes/node-a", () => ({ body: node("node-a") })],
    ["PATCH", "/api/v1/nodes/node-a", () => ({ body: node("node-a") })],
    ["GET", "/api/v1/nodes", () => ({ body: list("NodeList", "v1", [node("node-a")]) })],
    ["GET", "/api/v1/pods", () => ({ body: list("PodList", "v1", onNode) })],
    [
      "POST",
      /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/eviction$/,
      () => {
        onNode = [];
        return { status: 201, body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 } };
      },
    ],
    [
      "GET",
      `/api/v1/namespaces/${NS}/endpoints/api`,
      () => ({ body: { kind: "Endpoints", apiVersion: "v1", metadata: { name: "api", namespace: NS }, subsets: [{ addresses: [{ ip: "10.0.0.1" }], ports: [{ port: 80 }] }] } }),
    ],
  ];
  for (const [method, path, reply] of routes) fake.route({ method, path, reply });
  const targets = createTargets(
    { redis: {}, postgres: {}, kube: { prod: { server: fake.url, token: "t0ken", skipTLSVerify: true } } },
    { now: () => clock, sleep: async (ms) => void (clock += ms) },
  );
  kube = targets.kube("prod");
  close = targets.close;
});
afterAll(async () => {
  await close?.();
  await fake?.close();
});

/** Each method called the ways a step calls it: mutating ones as a preview (server-side dry run) and for real. */
const calls: Record<KubeMethod, ((k: KubeTarget) => Promise<unknown>)[]> = {
  listPods: [(k) => k.listPods(NS, "app=api")],
  events: [(k) => k.events(NS, "api-1")],
  logs: [(k) => k.logs(NS, "api-1", { previous: true })],
  getDeployment: [(k) => k.getDeployment(NS, "api")],
  revisions: [(k) => k.revisions(NS, "api")],
  rolloutStatus: [(k) => k.rolloutStatus(NS, "api")],
  waitForRollout: [(k) => k.waitForRollout(NS, "api", { timeoutMs: 10_000 })],
  rolloutRestart: [(k) => k.rolloutRestart(NS, "api", { dryRun: true }), (k) => k.rolloutRestart(NS, "api")],
  rolloutUndo: [(k) => k.rolloutUndo(NS, "api", { dryRun: true }), (k) => k.rolloutUndo(NS, "api", { toRevision: 2 })],
  scale: [(k) => k.scale(NS, "api", 4, { dryRun: true }), (k) => k.scale(NS, "api", 4)],
  getConfigMap: [(k) => k.getConfigMap(NS, "cfg")],
  setConfigMapKey: [(k) => k.setConfigMapKey(NS, "cfg", "pool", "b", { dryRun: true }), (k) => k.setConfigMapKey(NS, "cfg", "pool", "b")],
  setMemoryLimit: [(k) => k.setMemoryLimit(NS, "api", "api", "512Mi", { dryRun: true }), (k) => k.setMemoryLimit(NS, "api", "api", "512Mi")],
  podMemoryUsage: [(k) => k.podMemoryUsage(NS, "app=api")],
  getNode: [(k) => k.getNode("node-a")],
  listNodes: [(k) => k.listNodes("role=worker")],
  labelNode: [(k) => k.labelNode("node-a", "pool", "b", { dryRun: true }), (k) => k.labelNode("node-a", "pool", null)],
  cordon: [(k) => k.cordon("node-a", { dryRun: true }), (k) => k.cordon("node-a")],
  uncordon: [(k) => k.uncordon("node-a", { dryRun: true }), (k) => k.uncordon("node-a")],
  drainPlan: [(k) => k.drainPlan("node-a")],
  drain: [(k) => k.drain("node-a", { dryRun: true, deadlineMs: 60_000 }), (k) => k.drain("node-a", { deadlineMs: 60_000, backoffMs: 1_000 })],
  endpoints: [(k) => k.endpoints(NS, "api")],
};

describe("kube target methods and the RBAC permissions they need", () => {
  it("exercises every method", () => {
    expect(Object.keys(calls).sort()).toEqual([...KUBE_METHODS].sort());
  });

  for (const method of KUBE_METHODS) {
    it(`${method}: sends exactly the requests kube-access.ts grants it`, async () => {
      const from = fake.requests.length;
      for (const call of calls[method]) await call(kube);
      const sent = fake.requests.slice(from);
      expect(sent.length).toBeGreaterThan(0);
      // Nothing unrouted: every request reached an object the fake serves.
      const used = new Set(sent.map((r) => formatKubePermission(permissionOfRequest(r.method, r.path, r.query))));
      expect([...used].sort()).toEqual([...new Set(kubeAccess[method].permissions)].sort());
    });
  }

  it("maps requests to RBAC the way the API server does", () => {
    expect(permissionOfRequest("GET", "/api/v1/namespaces/shop/pods")).toEqual({ apiGroup: "", resource: "pods", verb: "list" });
    expect(permissionOfRequest("GET", "/api/v1/pods")).toEqual({ apiGroup: "", resource: "pods", verb: "list" });
    expect(permissionOfRequest("GET", "/api/v1/namespaces/shop/pods", { watch: "true" })).toEqual({ apiGroup: "", resource: "pods", verb: "watch" });
    expect(permissionOfRequest("GET", "/api/v1/namespaces/shop/pods/a/log")).toEqual({ apiGroup: "", resource: "pods/log", verb: "get" });
    expect(permissionOfRequest("POST", "/api/v1/namespaces/shop/pods/a/eviction")).toEqual({ apiGroup: "", resource: "pods/eviction", verb: "create" });
    expect(permissionOfRequest("PATCH", "/apis/apps/v1/namespaces/shop/deployments/api/scale")).toEqual({ apiGroup: "apps", resource: "deployments/scale", verb: "patch" });
    expect(permissionOfRequest("GET", "/api/v1/nodes/n1")).toEqual({ apiGroup: "", resource: "nodes", verb: "get" });
    expect(permissionOfRequest("DELETE", "/api/v1/namespaces/shop/pods")).toEqual({ apiGroup: "", resource: "pods", verb: "deletecollection" });
  });
});
