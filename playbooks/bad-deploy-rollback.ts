import { playbook, rolloutUndoStep, target, z } from "../src/sdk/index.ts";

/** Breakage that started with a deploy (errors, latency) while the rollout itself succeeded: roll back. */
export default playbook({
  id: "bad-deploy-rollback",
  title: "Bad deploy: roll back to the previous revision",
  summary: "Shows the revision history, what changed in the newest revision and the pods' state, then rolls the Deployment back with kubectl's undo semantics.",
  failureModes: ["bad-deploy", "error-rate-5xx", "latency-slo"],
  symptoms: [
    "Error rate or latency jumped right after a deploy",
    "The rollout finished, but the new version misbehaves",
  ],
  match: [
    { text: /bad deploy|roll ?back|after (the )?(deploy|release)/i, weight: 0.8 },
    { alertname: /^(DeploymentErrorRateHigh|ErrorBudgetBurnAfterDeploy)$/, weight: 0.6 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    deployment: z.string().min(1),
    /** Roll back to this revision instead of the previous one. */
    toRevision: z.number().int().min(1).optional(),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    deployment: a.labels.deployment ?? a.labels.app ?? a.labels.service,
  }),
})
  .diagnose("history", {
    description: "Revisions with their images and change causes.",
    permissions: ["apps/deployments:get", "apps/replicasets:list"],
    manual: ["kubectl -n {namespace} rollout history deployment/{deployment}"],
    run: ({ params, targets }) => targets.kube(params.kube).revisions(params.namespace, params.deployment),
  })
  .diagnose("deployment", {
    description: "The Deployment's images and replica counts now.",
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} get deployment {deployment} -o wide"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("status", {
    description: "kubectl rollout status, once.",
    permissions: ["apps/deployments:get"],
    run: ({ params, targets }) => targets.kube(params.kube).rolloutStatus(params.namespace, params.deployment),
  })
  .act("rollback", {
    ...rolloutUndoStep({ description: "kubectl rollout undo (to the previous revision, or the one given)." }),
    when: {
      if: ({ params, outputs }) => params.toRevision !== undefined || outputs.history.length >= 2,
      reason: "the Deployment has only one revision: there is nothing to roll back to",
    },
  })
  .notify("summary", {
    message: ({ params, outputs }) =>
      `Rolled ${params.namespace}/${params.deployment} back from revision ${outputs.history[0]?.revision ?? "?"}. Keep the bad image out of the next deploy.`,
  });
