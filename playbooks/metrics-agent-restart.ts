import { playbook, rolloutRestartStep, target, z } from "../src/sdk/index.ts";

function deploymentOfPod(pod: string | undefined): string | undefined {
  const m = pod ? /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod) : null;
  return m?.[1];
}

/** The metrics agent (Prometheus agent, Grafana Agent/Alloy, OTel collector) stopped shipping: restart its Deployment. */
export default playbook({
  id: "metrics-agent-restart",
  title: "Metrics agent stopped shipping: restart it",
  summary: "Reads the agent's pods and recent logs (remote-write errors, WAL corruption), then rolling-restarts its Deployment.",
  failureModes: ["metrics-pipeline-down", "target-down"],
  symptoms: [
    "Dashboards stop updating; 'no data' across services",
    "PrometheusRemoteWriteBehind / PrometheusRemoteStorageFailures firing",
    "Agent logs full of remote write errors or 'out of order samples'",
  ],
  match: [
    { alertname: /^Prometheus(RemoteWriteBehind|RemoteStorageFailures|RemoteWriteDesiredShards|NotIngestingSamples)$/ },
    { alertname: /^(OtelCollectorExportFailures|GrafanaAgentDown|AlloyDown)$/ },
    { text: /metrics (agent|pipeline)|remote.?write|dashboards? (not|stopped) updating/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().default("monitoring"),
    deployment: z.string().default("metrics-agent"),
  }),
  fromAlert: (a) => {
    const d = a.labels.deployment ?? deploymentOfPod(a.labels.pod);
    return {
      ...(a.labels.namespace ? { namespace: a.labels.namespace } : {}),
      ...(d ? { deployment: d } : {}),
    };
  },
})
  .diagnose("deployment", {
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} get deployment {deployment}"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("pods", {
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l app={deployment}"],
    run: ({ params, outputs, targets }) =>
      targets.kube(params.kube).listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(",")),
  })
  .diagnose("logs", {
    description: "Recent agent logs: remote write errors, WAL, scrape failures.",
    permissions: ["core/pods/log:get"],
    manual: ["kubectl -n {namespace} logs deploy/{deployment} --tail=100"],
    run: async ({ params, outputs, targets }) => {
      const p = outputs.pods[0];
      return p ? { pod: p.name, logs: await targets.kube(params.kube).logs(params.namespace, p.name, { tailLines: 100 }) } : { pod: null, logs: "" };
    },
  })
  .act("restart", rolloutRestartStep({ description: "kubectl rollout restart of the agent.", irreversible: "a restart replaces the agent's pods with identical ones; there is nothing to undo" }))
  .notify("summary", {
    message: ({ params }) => `Restarted ${params.namespace}/${params.deployment}. Confirm dashboards show fresh samples within a few scrape intervals.`,
  });
