import { playbook, target, z } from "../src/sdk/index.ts";

/** Cluster DNS down or slow: look at CoreDNS pods, their previous logs and the kube-dns endpoints, then restart it. */
export default playbook({
  id: "coredns-restart",
  title: "CoreDNS down or slow: rolling restart in kube-system",
  summary: "Reads CoreDNS pods, previous-container logs and the kube-dns Service endpoints, then rolling-restarts the CoreDNS Deployment and checks the endpoints come back.",
  failureModes: ["coredns-down", "dns-latency", "dns-servfail"],
  symptoms: [
    "Pods fail to resolve service names (i/o timeout, SERVFAIL)",
    "CoreDNSDown, CoreDNSLatencyHigh or CoreDNSErrorsHigh firing",
    "kube-dns Service with no ready endpoints",
  ],
  match: [
    { alertname: /^CoreDNS(Down|LatencyHigh|ErrorsHigh|ForwardLatencyHigh|ForwardErrorsHigh|ForwardHealthcheckFailureCount)$/ },
    { alertname: "KubeDNSDown" },
    { text: /coredns|kube-dns|cluster dns|SERVFAIL|i\/o timeout.*:53/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().default("kube-system"),
    deployment: z.string().default("coredns"),
    service: z.string().default("kube-dns"),
    selector: z.string().default("k8s-app=kube-dns"),
  }),
})
  .diagnose("pods", {
    description: "CoreDNS pods, restarts and last termination reasons.",
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l {selector} -o wide"],
    run: ({ params, targets }) => targets.kube(params.kube).listPods(params.namespace, params.selector),
  })
  .diagnose("previous-logs", {
    description: "What a crashed CoreDNS said before it died (plugin errors, loop detected, upstream timeouts).",
    permissions: ["core/pods/log:get"],
    manual: ["kubectl -n {namespace} logs -l {selector} --previous --tail=50"],
    run: async ({ params, outputs, targets }) => {
      const worst = [...outputs.pods].sort((a, b) => b.restarts - a.restarts)[0];
      if (!worst) return { pod: null, logs: "" };
      try {
        return { pod: worst.name, logs: await targets.kube(params.kube).logs(params.namespace, worst.name, { previous: worst.restarts > 0, tailLines: 50 }) };
      } catch (err) {
        return { pod: worst.name, logs: `(no logs: ${(err as Error).message.slice(0, 200)})` };
      }
    },
  })
  .diagnose("endpoints", {
    description: "Ready addresses behind the kube-dns Service.",
    permissions: ["core/endpoints:get"],
    manual: ["kubectl -n {namespace} get endpoints {service}"],
    run: ({ params, targets }) => targets.kube(params.kube).endpoints(params.namespace, params.service),
  })
  .act("restart", {
    description: "kubectl rollout restart deployment/coredns in kube-system.",
    risk: "medium",
    permissions: ["apps/deployments:get", "apps/deployments:patch", "core/endpoints:get"],
    locks: ({ params }) => [`kube:${params.kube}/deployments/${params.namespace}/${params.deployment}`],
    manual: ["kubectl -n {namespace} rollout restart deployment/{deployment}", "kubectl -n {namespace} rollout status deployment/{deployment} --timeout=3m"],
    preview: async ({ params, targets }) => {
      const c = await targets.kube(params.kube).rolloutRestart(params.namespace, params.deployment, { dryRun: true });
      return { summary: c.summary, diff: c.diff };
    },
    run: ({ params, targets }) => targets.kube(params.kube).rolloutRestart(params.namespace, params.deployment),
    verifyTimeoutMs: 200_000,
    verify: async ({ params, targets, signal }) => {
      const kube = targets.kube(params.kube);
      const s = await kube.waitForRollout(params.namespace, params.deployment, { timeoutMs: 180_000, signal });
      const ep = await kube.endpoints(params.namespace, params.service);
      return { ok: s.done && ep.ready.length > 0, detail: `${s.message}; ${ep.ready.length} ready endpoints` };
    },
    irreversible: "a restart replaces CoreDNS pods with identical ones; there is nothing to undo",
  })
  .notify("summary", {
    message: ({ outputs }) =>
      `Restarted CoreDNS (had ${outputs.endpoints.ready.length} ready endpoints, ${outputs.pods.filter((p) => p.restarts > 0).length} restarting pods). Check upstream resolvers and the loop plugin if it recurs.`,
  });
