import { playbook, rolloutRestartStep, target, z } from "../src/sdk/index.ts";

function deploymentOfPod(pod: string | undefined): string | undefined {
  const m = pod ? /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod) : null;
  return m?.[1];
}

/** A background worker stopped taking jobs (queue grows, workers idle or wedged): restart it. */
export default playbook({
  id: "worker-restart",
  title: "Worker stopped processing jobs: restart it",
  summary: "Reads the worker pods and their recent logs (the last job taken, a stuck lock, a lost broker connection), then rolling-restarts the worker Deployment.",
  failureModes: ["thread-starvation", "api-deadlock"],
  symptoms: [
    "Queue depth or job age keeps growing",
    "Workers are Running but log nothing new",
    "A consumer lost its broker connection and never reconnected",
  ],
  match: [
    { alertname: /^(QueueBacklogGrowing|SidekiqQueueTooLarge|CeleryQueueLengthHigh|RabbitmqQueueMessagesReady|KafkaConsumerLagHigh|JobQueueStalled)$/ },
    { text: /worker(s)? (stuck|stopped|not processing|idle)|queue (backlog|growing|stalled)|jobs? (stuck|not processed)/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    deployment: z.string().min(1),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    deployment: a.labels.deployment ?? deploymentOfPod(a.labels.pod),
  }),
})
  .diagnose("deployment", {
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} get deployment {deployment}"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("pods", {
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l app={deployment} -o wide"],
    run: ({ params, outputs, targets }) =>
      targets.kube(params.kube).listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(",")),
  })
  .diagnose("logs", {
    description: "The last lines each worker wrote: what job it took last, what it waits on.",
    permissions: ["core/pods/log:get"],
    manual: ["kubectl -n {namespace} logs deploy/{deployment} --tail=50 --timestamps"],
    run: async ({ params, outputs, targets }) => {
      const out: { pod: string; logs: string }[] = [];
      for (const p of outputs.pods.slice(0, 3)) out.push({ pod: p.name, logs: await targets.kube(params.kube).logs(params.namespace, p.name, { tailLines: 50 }) });
      return out;
    },
  })
  .act("restart", rolloutRestartStep({ description: "kubectl rollout restart of the workers; jobs in flight are retried by the queue.", irreversible: "a restart replaces worker pods with identical ones; there is nothing to undo" }))
  .notify("summary", {
    message: ({ params }) => `Restarted ${params.namespace}/${params.deployment}. Watch the queue drain; if it stalls again, capture a thread dump first.`,
  });
