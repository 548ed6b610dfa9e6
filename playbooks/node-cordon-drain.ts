import { playbook, target, z } from "../src/sdk/index.ts";

/** A node NotReady or under disk/memory pressure: stop new pods landing on it, then move its pods off through the Eviction API. */
export default playbook({
  id: "node-cordon-drain",
  title: "Node unhealthy: cordon and drain",
  summary: "Reads the node's conditions and taints, cordons it, then drains it through the Eviction API (DaemonSet and mirror pods stay; PodDisruptionBudgets are respected).",
  failureModes: ["node-not-ready", "node-unreachable", "node-disk-pressure", "node-memory-pressure", "kubelet-down"],
  symptoms: [
    "Node NotReady or Unknown; pods on it Terminating or unreachable",
    "DiskPressure or MemoryPressure: kubelet evicting pods",
    "KubeNodeNotReady / KubeNodeUnreachable / KubeletDown firing",
  ],
  match: [
    { alertname: /^(KubeNodeNotReady|KubeNodeUnreachable|KubeNodePressure|KubeletDown|NodeNotReady)$/ },
    { alertname: /^(NodeFilesystemAlmostOutOfSpace|NodeMemoryHighUtilization)$/, weight: 0.5 },
    { text: /node .*(not ?ready|unreachable|disk ?pressure|memory ?pressure)|cordon|drain/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    node: z.string().min(1),
    drainDeadlineMinutes: z.number().int().min(1).max(60).default(10),
  }),
  fromAlert: (a) => ({
    node: a.labels.node ?? a.labels.instance?.replace(/:\d+$/, ""),
  }),
})
  .diagnose("node", {
    description: "Conditions (Ready, DiskPressure, MemoryPressure, PIDPressure), taints, schedulability.",
    permissions: ["core/nodes:get"],
    manual: ["kubectl describe node {node}", "kubectl get node {node} -o jsonpath='{.status.conditions}'"],
    run: ({ params, targets }) => targets.kube(params.kube).getNode(params.node),
  })
  .diagnose("workload", {
    description: "What a drain would evict and what it would leave.",
    permissions: ["core/pods:list"],
    manual: ["kubectl get pods -A --field-selector spec.nodeName={node} -o wide"],
    run: async ({ params, targets }) => {
      const d = await targets.kube(params.kube).drainPlan(params.node);
      return { evict: d.evicted, keep: d.skipped };
    },
  })
  .act("cordon", {
    description: "Mark the node unschedulable.",
    risk: "low",
    permissions: ["core/nodes:get", "core/nodes:patch"],
    when: { if: ({ outputs }) => !outputs.node.unschedulable, reason: ({ params }) => `node ${params.node} is already cordoned (unschedulable)` },
    locks: ({ params }) => [`kube:${params.kube}/nodes/${params.node}`],
    manual: ["kubectl cordon {node}"],
    preview: async ({ params, targets }) => {
      const c = await targets.kube(params.kube).cordon(params.node, { dryRun: true });
      return { summary: c.summary, diff: c.diff };
    },
    run: ({ params, targets }) => targets.kube(params.kube).cordon(params.node),
    verify: async ({ params, targets }) => (await targets.kube(params.kube).getNode(params.node)).unschedulable,
    rollback: ({ params, targets }) => targets.kube(params.kube).uncordon(params.node),
  })
  .act("drain", {
    description: "Evict every pod but DaemonSet and mirror pods; back off while a PodDisruptionBudget refuses.",
    risk: "high",
    permissions: ["core/pods:list", "core/pods/eviction:create"],
    when: {
      if: ({ outputs }) => outputs.workload.evict.length > 0,
      reason: ({ params, outputs }) => `no pod on ${params.node} would be evicted (${outputs.workload.keep.length} DaemonSet or mirror pods stay)`,
    },
    locks: ({ params }) => [`kube:${params.kube}/nodes/${params.node}`],
    manual: ["kubectl drain {node} --ignore-daemonsets --delete-emptydir-data --timeout=10m"],
    timeoutMs: 61 * 60_000,
    preview: async ({ params, targets }) => {
      const d = await targets.kube(params.kube).drainPlan(params.node);
      return { summary: d.summary, diff: d.diff };
    },
    run: ({ params, targets, signal }) =>
      targets.kube(params.kube).drain(params.node, { deadlineMs: params.drainDeadlineMinutes * 60_000, backoffMs: 5_000, signal }),
    verify: ({ result }) => ({ ok: result.complete, detail: result.summary }),
    irreversible: "evicted pods are recreated elsewhere by their controllers and cannot be put back; uncordon the node to let new pods land on it again",
  })
  .notify("summary", {
    message: ({ params, outputs }) =>
      `Cordoned and drained ${params.node} (${outputs.node.conditions.filter((c) => (c.type === "Ready" ? c.status !== "True" : c.status === "True")).map((c) => c.type).join(", ") || "no bad conditions"}). Uncordon it once fixed: kubectl uncordon ${params.node}.`,
  });
