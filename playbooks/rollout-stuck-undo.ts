import { playbook, rolloutUndoStep, target, z } from "../src/sdk/index.ts";

/** A rollout that stopped progressing (ProgressDeadlineExceeded, or new pods never become available): undo it. */
export default playbook({
  id: "rollout-stuck-undo",
  title: "Rollout stuck: undo to the previous revision",
  summary: "Reads rollout status with kubectl's rules, the new pods' state and the revision history, then runs kubectl rollout undo and waits for it to finish.",
  failureModes: ["deployment-rollout-stuck", "deployment-replicas-mismatch"],
  symptoms: [
    "kubectl rollout status hangs or reports 'exceeded its progress deadline'",
    "KubeDeploymentRolloutStuck / KubeDeploymentReplicasMismatch firing",
    "New pods Pending, ImagePullBackOff or never Ready while old ones still serve",
  ],
  match: [
    { alertname: /^(KubeDeploymentRolloutStuck|KubeDeploymentGenerationMismatch)$/ },
    { alertname: "KubeDeploymentReplicasMismatch", weight: 0.6 },
    { text: /rollout (is )?stuck|progress deadline|ProgressDeadlineExceeded/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    deployment: z.string().min(1),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    deployment: a.labels.deployment,
  }),
})
  .diagnose("status", {
    description: "kubectl rollout status, once.",
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} rollout status deployment/{deployment} --timeout=10s"],
    run: ({ params, targets }) => targets.kube(params.kube).rolloutStatus(params.namespace, params.deployment),
  })
  .diagnose("deployment", {
    description: "Replicas: desired, updated, available; conditions.",
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} describe deployment {deployment}"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("pods", {
    description: "Pods and why the new ones are not ready.",
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l app={deployment}"],
    run: async ({ params, outputs, targets }) =>
      (await targets.kube(params.kube).listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(","))).map((p) => ({
        name: p.name, owner: p.ownerName, phase: p.phase, ready: p.ready, reason: p.reason, restarts: p.restarts,
      })),
  })
  .diagnose("history", {
    description: "Revisions, newest first.",
    permissions: ["apps/deployments:get", "apps/replicasets:list"],
    manual: ["kubectl -n {namespace} rollout history deployment/{deployment}"],
    run: ({ params, targets }) => targets.kube(params.kube).revisions(params.namespace, params.deployment),
  })
  .act("undo", {
    ...rolloutUndoStep({ description: "kubectl rollout undo to the previous revision." }),
    when: { if: ({ outputs }) => !outputs.status.done, reason: ({ outputs }) => `the rollout is not stuck: ${outputs.status.message}` },
  })
  .notify("summary", {
    message: ({ params, outputs }) =>
      outputs.status.done
        ? `${params.namespace}/${params.deployment} finished rolling out on its own; nothing undone.`
        : `Undid the stuck rollout of ${params.namespace}/${params.deployment} (${outputs.status.message}). Fix the new revision before rolling forward.`,
  });
