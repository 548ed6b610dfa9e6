import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import { BelayError } from "../errors.ts";
import { parseQuantity } from "./kube-config.ts";
import { diffObjects } from "./kube-diff.ts";
import { drainNode, type Sleep } from "./kube-drain.ts";
import { stepSignal, throwIfStepAborted } from "./step-signal.ts";
import {
  RESTARTED_AT,
  ownedReplicaSets,
  planUndo,
  rolloutStatus,
  summariseDeployment,
  summariseEvent,
  summariseNode,
  summarisePod,
  summariseRevisions,
} from "./kube-rules.ts";
import type { Change, KubeTarget, MutateOptions } from "./types.ts";

export interface KubeTargetDeps {
  now?: () => number;
  sleep?: Sleep;
}

const strategic = () => setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
const merge = () => setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const jsonPatch = () => setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
/** Every mutation passes this: `All` is a server-side dry run (admission, validation, defaulting, nothing stored). */
const dryRun = (opts: MutateOptions) => (opts.dryRun ? "All" : undefined);

export const defaultSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

const selectorOf = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");

/**
 * A Kubernetes target. API clients are made on first use from the KubeConfig factory, so
 * building a Targets object never touches a cluster or a file.
 */
export function createKubeTarget(name: string, loadConfig: () => KubeConfig, deps: KubeTargetDeps = {}): KubeTarget {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  let apis: { core: CoreV1Api; apps: AppsV1Api; custom: CustomObjectsApi } | null = null;
  const api = () => {
    if (!apis) {
      const kc = loadConfig();
      apis = { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
    }
    return apis;
  };

  const change = (summary: string, before: unknown, after: unknown, opts: MutateOptions): Change => ({
    summary: `${opts.dryRun ? "[server dry run] " : ""}${summary}`,
    diff: diffObjects(before, after),
    dryRun: !!opts.dryRun,
  });

  /** Strategic-merge patch of a Deployment, with the diff the server's answer shows. */
  async function patchDeployment(namespace: string, deployment: string, body: object, summary: string, opts: MutateOptions): Promise<Change> {
    const before = await api().apps.readNamespacedDeployment({ name: deployment, namespace });
    throwIfStepAborted(); // the step may have been aborted while the object was read: no patch then
    const after = await api().apps.patchNamespacedDeployment({ name: deployment, namespace, body, dryRun: dryRun(opts) }, strategic());
    return change(summary, before, after, opts);
  }

  async function patchNode(node: string, body: object, summary: string, opts: MutateOptions, options = merge()): Promise<Change> {
    const before = await api().core.readNode({ name: node });
    throwIfStepAborted();
    const after = await api().core.patchNode({ name: node, body, dryRun: dryRun(opts) }, options);
    return change(summary, before, after, opts);
  }

  const target: KubeTarget = {
    name,

    async listPods(namespace, selector) {
      const list = await api().core.listNamespacedPod({ namespace, labelSelector: selector });
      return list.items.map(summarisePod);
    },

    async events(namespace, objectName, kind = "Pod") {
      const list = await api().core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.name=${objectName},involvedObject.kind=${kind}`,
      });
      return list.items.map(summariseEvent).sort((a, b) => (a.lastSeen ?? "").localeCompare(b.lastSeen ?? ""));
    },

    async logs(namespace, pod, opts = {}) {
      return api().core.readNamespacedPodLog({
        name: pod,
        namespace,
        container: opts.container,
        previous: opts.previous,
        tailLines: opts.tailLines ?? 200,
        limitBytes: 256 * 1024,
      });
    },

    async getDeployment(namespace, deployment) {
      return summariseDeployment(await api().apps.readNamespacedDeployment({ name: deployment, namespace }));
    },

    async revisions(namespace, deployment) {
      const d = await api().apps.readNamespacedDeployment({ name: deployment, namespace });
      const sets = await api().apps.listNamespacedReplicaSet({ namespace, labelSelector: selectorOf(d.spec?.selector?.matchLabels ?? {}) });
      return summariseRevisions(ownedReplicaSets(d, sets.items));
    },

    async rolloutStatus(namespace, deployment) {
      return rolloutStatus(await api().apps.readNamespacedDeployment({ name: deployment, namespace }));
    },

    async waitForRollout(namespace, deployment, opts) {
      const deadline = now() + opts.timeoutMs;
      const signal = opts.signal ?? stepSignal(); // the step's own signal when the playbook passed none
      for (;;) {
        signal?.throwIfAborted();
        const status = await target.rolloutStatus(namespace, deployment);
        if (status.done || status.failed || now() >= deadline) return status;
        await sleep(Math.min(opts.intervalMs ?? 2_000, Math.max(0, deadline - now())), signal);
      }
    },

    rolloutRestart(namespace, deployment, opts = {}) {
      // What `kubectl rollout restart` sends: a new template annotation makes a new ReplicaSet.
      const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date(now()).toISOString().replace(/\.\d{3}Z$/, "Z") } } } } };
      return patchDeployment(namespace, deployment, body, `rollout restart deployment/${deployment} -n ${namespace}`, opts);
    },

    async rolloutUndo(namespace, deployment, opts = {}) {
      const d = await api().apps.readNamespacedDeployment({ name: deployment, namespace });
      const sets = await api().apps.listNamespacedReplicaSet({ namespace, labelSelector: selectorOf(d.spec?.selector?.matchLabels ?? {}) });
      let plan;
      try {
        plan = planUndo(d, ownedReplicaSets(d, sets.items), opts.toRevision ?? 0);
      } catch (err) {
        throw new BelayError("input.invalid", `kube ${name}: deployment/${deployment} -n ${namespace}: ${(err as Error).message}`);
      }
      if (plan.kind === "skip") {
        return { summary: plan.reason, diff: "(no change)", dryRun: !!opts.dryRun, fromRevision: plan.fromRevision, toRevision: plan.toRevision, skipped: true };
      }
      throwIfStepAborted();
      const after = await api().apps.patchNamespacedDeployment(
        { name: deployment, namespace, body: plan.patch, dryRun: dryRun(opts) },
        jsonPatch(),
      );
      const summary = `rollout undo deployment/${deployment} -n ${namespace}: revision ${plan.fromRevision ?? "?"} -> ${plan.toRevision} (replicaset ${plan.replicaSet})`;
      return { ...change(summary, d, after, opts), fromRevision: plan.fromRevision, toRevision: plan.toRevision, skipped: false };
    },

    async scale(namespace, deployment, replicas, opts = {}) {
      const before = await api().apps.readNamespacedDeploymentScale({ name: deployment, namespace });
      throwIfStepAborted();
      const after = await api().apps.patchNamespacedDeploymentScale(
        { name: deployment, namespace, body: { spec: { replicas } }, dryRun: dryRun(opts) },
        merge(),
      );
      return change(`scale deployment/${deployment} -n ${namespace}: ${before.spec?.replicas ?? "?"} -> ${replicas}`, before, after, opts);
    },

    async getConfigMap(namespace, configMap) {
      return (await api().core.readNamespacedConfigMap({ name: configMap, namespace })).data ?? {};
    },

    async setConfigMapKey(namespace, configMap, key, value, opts = {}) {
      const before = await api().core.readNamespacedConfigMap({ name: configMap, namespace });
      throwIfStepAborted();
      const after = await api().core.patchNamespacedConfigMap(
        { name: configMap, namespace, body: { data: { [key]: value } }, dryRun: dryRun(opts) },
        merge(),
      );
      return change(`set configmap/${configMap} -n ${namespace} key ${key}`, before, after, opts);
    },

    async setMemoryLimit(namespace, deployment, container, limit, opts = {}) {
      if (parseQuantity(limit) === null) throw new BelayError("input.invalid", `memory limit ${JSON.stringify(limit)} is not a Kubernetes quantity (e.g. 512Mi)`);
      // Strategic merge keys containers by name: only this container's limit changes.
      const body = { spec: { template: { spec: { containers: [{ name: container, resources: { limits: { memory: limit } } }] } } } };
      return patchDeployment(namespace, deployment, body, `set memory limit of ${container} in deployment/${deployment} -n ${namespace} to ${limit}`, opts);
    },

    async podMemoryUsage(namespace, selector) {
      const list = (await api().custom.listNamespacedCustomObject({
        group: "metrics.k8s.io",
        version: "v1beta1",
        namespace,
        plural: "pods",
        labelSelector: selector,
      })) as { items?: { metadata?: { name?: string }; containers?: { name: string; usage?: { memory?: string } }[] }[] };
      const out: Record<string, number> = {};
      for (const p of list.items ?? []) {
        for (const c of p.containers ?? []) out[`${p.metadata?.name}/${c.name}`] = parseQuantity(c.usage?.memory) ?? 0;
      }
      return out;
    },

    async getNode(node) {
      return summariseNode(await api().core.readNode({ name: node }));
    },

    async listNodes(selector) {
      return (await api().core.listNode({ labelSelector: selector })).items.map(summariseNode);
    },

    labelNode(node, key, value, opts = {}) {
      const summary = value === null ? `label node/${node} ${key}-` : `label node/${node} ${key}=${value}`;
      return patchNode(node, { metadata: { labels: { [key]: value } } }, summary, opts);
    },

    cordon(node, opts = {}) {
      return patchNode(node, { spec: { unschedulable: true } }, `cordon node/${node}`, opts, strategic());
    },

    uncordon(node, opts = {}) {
      // null removes the field, as kubectl uncordon's patch does.
      return patchNode(node, { spec: { unschedulable: null } }, `uncordon node/${node}`, opts, strategic());
    },

    drain(node, opts) {
      return drainNode(api().core, node, { ...opts, signal: opts.signal ?? stepSignal() }, { now, sleep });
    },

    drainPlan(node) {
      return drainNode(api().core, node, { dryRun: true, deadlineMs: 0 }, { now, sleep });
    },

    async endpoints(namespace, service) {
      const ep = await api().core.readNamespacedEndpoints({ name: service, namespace });
      const ready: string[] = [];
      const notReady: string[] = [];
      for (const s of ep.subsets ?? []) {
        const ports = (s.ports ?? []).map((p) => p.port).join(",");
        for (const a of s.addresses ?? []) ready.push(`${a.ip}${ports ? ":" + ports : ""}${a.targetRef?.name ? ` (${a.targetRef.name})` : ""}`);
        for (const a of s.notReadyAddresses ?? []) notReady.push(`${a.ip}${ports ? ":" + ports : ""}${a.targetRef?.name ? ` (${a.targetRef.name})` : ""}`);
      }
      return { ready, notReady };
    },
  };
  return target;
}
