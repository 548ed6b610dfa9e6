import { playbook, rolloutRestartStep, target, z } from "../src/sdk/index.ts";

function deploymentOfPod(pod: string | undefined): string | undefined {
  const m = pod ? /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod) : null;
  return m?.[1];
}

/**
 * Pods up and Ready, yet real requests hang: a deadlock, an exhausted internal pool, a stuck
 * event loop. Probes pass, so Kubernetes will not help. Capture evidence, then restart.
 */
export default playbook({
  id: "api-deadlock-restart",
  title: "Requests hang while pods look healthy: rolling restart",
  summary: "Records pod state, endpoints and recent logs as evidence (a restart destroys it), then rolling-restarts the Deployment and waits for the rollout.",
  failureModes: ["api-deadlock", "thread-starvation", "latency-slo"],
  symptoms: [
    "Requests time out or hang while every pod is Running and Ready",
    "Latency SLO burning, no errors logged, CPU idle",
    "Thread or connection pools exhausted in the service's own metrics",
  ],
  match: [
    { text: /deadlock|requests? (hang|hanging|time ?out)|stuck (threads?|event loop)|thread (pool )?(starv|exhaust)/i },
    { alertname: /^(HighLatency|APILatencyHigh|RequestTimeouts)$/, weight: 0.5 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    deployment: z.string().min(1),
    /** The Service in front of it; defaults to the Deployment's name. */
    service: z.string().optional(),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    deployment: a.labels.deployment ?? deploymentOfPod(a.labels.pod) ?? a.labels.service,
    ...(a.labels.service ? { service: a.labels.service } : {}),
  }),
})
  .diagnose("deployment", {
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} get deployment {deployment} -o wide"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("pods", {
    description: "Pods: if all are Ready and not restarting, the hang is inside the process.",
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l app={deployment} -o wide"],
    run: ({ params, outputs, targets }) =>
      targets.kube(params.kube).listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(",")),
  })
  .diagnose("endpoints", {
    description: "Ready endpoints behind the Service.",
    permissions: ["core/endpoints:get"],
    manual: ["kubectl -n {namespace} get endpoints {deployment}"],
    run: async ({ params, targets }) => {
      try {
        return await targets.kube(params.kube).endpoints(params.namespace, params.service ?? params.deployment);
      } catch (err) {
        return { ready: [], notReady: [], error: (err as Error).message.slice(0, 200) };
      }
    },
  })
  .diagnose("recent-logs", {
    description: "The last log lines of one pod: evidence before the restart destroys it.",
    permissions: ["core/pods/log:get"],
    manual: ["kubectl -n {namespace} logs deploy/{deployment} --tail=200"],
    run: async ({ params, outputs, targets }) => {
      const p = outputs.pods[0];
      if (!p) return { pod: null, logs: "" };
      return { pod: p.name, logs: await targets.kube(params.kube).logs(params.namespace, p.name, { container: p.containers[0]?.name, tailLines: 200 }) };
    },
  })
  .act("restart", rolloutRestartStep({ description: "kubectl rollout restart: replaces pods one by one under the rollout strategy.", irreversible: "a restart replaces pods with identical ones; there is nothing to undo" }))
  .notify("follow-up", {
    message: ({ params }) =>
      `Restarted ${params.namespace}/${params.deployment}. Take a thread/heap dump next time before restarting, and add a probe that exercises the real request path.`,
  });
