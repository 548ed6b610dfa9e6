import { playbook, target, z } from "../src/sdk/index.ts";

/**
 * A workload pinned to nodes by a label (nodeSelector) sits on a bad node. Label a healthy
 * node, unlabel the bad one, and restart the workload so the scheduler moves it.
 */
export default playbook({
  id: "node-relabel-move",
  title: "Move a node-pinned workload to a healthy node",
  summary: "Checks both nodes and the Deployment's nodeSelector, labels the healthy node, unlabels the bad one, then restarts the Deployment so its pods reschedule onto the healthy node.",
  failureModes: ["node-not-ready", "node-disk-pressure", "node-memory-pressure", "pod-not-ready"],
  symptoms: [
    "Pods of a pinned workload Pending or stuck on one bad node",
    "The workload's nodeSelector matches only an unhealthy node",
  ],
  match: [
    { text: /(pinned|node ?selector|node affinity).*(node|move)|move .* to (a )?healthy node|relabel/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    deployment: z.string().min(1),
    /** The nodeSelector label, e.g. `workload/ingest`. */
    labelKey: z.string().min(1),
    labelValue: z.string().default("true"),
    badNode: z.string().min(1),
    healthyNode: z.string().min(1),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    ...(a.labels.deployment ? { deployment: a.labels.deployment } : {}),
    ...(a.labels.node ? { badNode: a.labels.node } : {}),
  }),
})
  .diagnose("deployment", {
    description: "The Deployment's nodeSelector: must use the label being moved.",
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} get deployment {deployment} -o jsonpath='{.spec.template.spec.nodeSelector}'"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("nodes", {
    description: "Both nodes' readiness, conditions and current labels.",
    permissions: ["core/nodes:get"],
    manual: ["kubectl get nodes {badNode} {healthyNode} -L {labelKey}", "kubectl describe node {healthyNode}"],
    run: async ({ params, targets }) => {
      const kube = targets.kube(params.kube);
      const [bad, healthy] = [await kube.getNode(params.badNode), await kube.getNode(params.healthyNode)];
      return { bad, healthy, healthyIsUsable: healthy.ready && !healthy.unschedulable };
    },
  })
  .act("label-healthy", {
    description: "Add the workload's label to the healthy node.",
    risk: "medium",
    permissions: ["core/nodes:get", "core/nodes:patch"],
    when: [
      { if: ({ outputs }) => outputs.nodes.healthyIsUsable, reason: "the healthy node is not ready or is cordoned: nothing may move there" },
      { if: ({ outputs, params }) => outputs.nodes.healthy.labels[params.labelKey] !== params.labelValue, reason: ({ params }) => `the healthy node already has ${params.labelKey}=${params.labelValue}` },
    ],
    locks: ({ params }) => [`kube:${params.kube}/nodes/${params.healthyNode}`],
    manual: ["kubectl label node {healthyNode} {labelKey}={labelValue} --overwrite"],
    preview: async ({ params, targets }) => {
      const c = await targets.kube(params.kube).labelNode(params.healthyNode, params.labelKey, params.labelValue, { dryRun: true });
      return { summary: c.summary, diff: c.diff };
    },
    run: async ({ params, outputs, targets }) => {
      await targets.kube(params.kube).labelNode(params.healthyNode, params.labelKey, params.labelValue);
      return { previous: outputs.nodes.healthy.labels[params.labelKey] ?? null };
    },
    verify: async ({ params, targets }) => (await targets.kube(params.kube).getNode(params.healthyNode)).labels[params.labelKey] === params.labelValue,
    rollback: ({ params, targets, result }) => targets.kube(params.kube).labelNode(params.healthyNode, params.labelKey, result.previous),
  })
  .act("unlabel-bad", {
    description: "Remove the label from the bad node so nothing new is pinned there.",
    risk: "medium",
    permissions: ["core/nodes:get", "core/nodes:patch"],
    when: [
      { if: ({ outputs }) => outputs.nodes.healthyIsUsable, reason: "the healthy node is not ready or is cordoned: nothing may move there" },
      { if: ({ outputs, params }) => outputs.nodes.bad.labels[params.labelKey] !== undefined, reason: ({ params }) => `the bad node has no ${params.labelKey} label` },
    ],
    locks: ({ params }) => [`kube:${params.kube}/nodes/${params.badNode}`],
    manual: ["kubectl label node {badNode} {labelKey}-"],
    preview: async ({ params, targets }) => {
      const c = await targets.kube(params.kube).labelNode(params.badNode, params.labelKey, null, { dryRun: true });
      return { summary: c.summary, diff: c.diff };
    },
    run: async ({ params, outputs, targets }) => {
      await targets.kube(params.kube).labelNode(params.badNode, params.labelKey, null);
      return { previous: outputs.nodes.bad.labels[params.labelKey] ?? null };
    },
    verify: async ({ params, targets }) => (await targets.kube(params.kube).getNode(params.badNode)).labels[params.labelKey] === undefined,
    rollback: ({ params, targets, result }) => targets.kube(params.kube).labelNode(params.badNode, params.labelKey, result.previous),
  })
  .act("reschedule", {
    description: "Rolling restart: new pods schedule by the new labels, onto the healthy node.",
    risk: "medium",
    permissions: ["apps/deployments:get", "apps/deployments:patch", "core/pods:list"],
    when: { if: ({ outputs }) => outputs.nodes.healthyIsUsable, reason: "the healthy node is not ready or is cordoned: nothing may move there" },
    locks: ({ params }) => [`kube:${params.kube}/deployments/${params.namespace}/${params.deployment}`],
    manual: ["kubectl -n {namespace} rollout restart deployment/{deployment}", "kubectl -n {namespace} get pods -l app={deployment} -o wide"],
    preview: async ({ params, targets }) => {
      const c = await targets.kube(params.kube).rolloutRestart(params.namespace, params.deployment, { dryRun: true });
      return { summary: c.summary, diff: c.diff };
    },
    run: ({ params, targets }) => targets.kube(params.kube).rolloutRestart(params.namespace, params.deployment),
    verifyTimeoutMs: 330_000,
    verify: async ({ params, outputs, targets, signal }) => {
      const kube = targets.kube(params.kube);
      const s = await kube.waitForRollout(params.namespace, params.deployment, { timeoutMs: 300_000, signal });
      const pods = await kube.listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(","));
      const stragglers = pods.filter((p) => p.node === params.badNode).map((p) => p.name);
      return { ok: s.done && stragglers.length === 0, detail: stragglers.length ? `still on ${params.badNode}: ${stragglers.join(", ")}` : s.message };
    },
    irreversible: "a restart replaces pods; undo the label steps to pin the workload back",
  })
  .notify("summary", {
    message: ({ params, outputs }) =>
      outputs.nodes.healthyIsUsable
        ? `Moved ${params.namespace}/${params.deployment} from ${params.badNode} to ${params.healthyNode} (label ${params.labelKey}=${params.labelValue}).`
        : `${params.healthyNode} is not ready or schedulable; nothing moved. Pick another node.`,
  });
