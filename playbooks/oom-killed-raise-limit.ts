import { playbook, target, z } from "../src/sdk/index.ts";

const MI = 2 ** 20;

function deploymentOfPod(pod: string | undefined): string | undefined {
  const m = pod ? /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod) : null;
  return m?.[1];
}

const selectorOf = (labels: Readonly<Record<string, string>>) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");

/**
 * A container OOM-killed at its limit. Compares usage with the limit, then raises the limit by
 * a bounded factor (at most 2x, never past a cap) so the service survives while the cause
 * (a leak, a bigger working set) is found. The rollback restores the old limit.
 */
export default playbook({
  id: "oom-killed-raise-limit",
  title: "Container OOM-killed: raise its memory limit, bounded",
  summary: "Reads OOMKilled terminations and memory use against the limit, then raises the limit by at most 2x up to a cap; rollback restores the old limit.",
  failureModes: ["oom-killed", "memory-leak"],
  symptoms: [
    "Last termination reason OOMKilled, exit code 137",
    "KubePodCrashLooping or restarts after memory climbs to the limit",
    "Container memory working set near its limit on dashboards",
  ],
  match: [
    { alertname: /^(KubeContainerOOMKilled|ContainerOOMKilled|KubePodOOMKilled)$/ },
    { alertname: "KubeMemoryLimitReached", weight: 0.7 },
    { text: /OOM ?Killed|out of memory|exit code 137/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    deployment: z.string().min(1),
    /** Defaults to the container that was OOM-killed most. */
    container: z.string().optional(),
    factor: z.number().gt(1).max(2).default(1.5),
    /** Never raise past this many MiB. */
    capMi: z.number().int().min(64).default(8192),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    deployment: a.labels.deployment ?? deploymentOfPod(a.labels.pod),
    ...(a.labels.container ? { container: a.labels.container } : {}),
  }),
})
  .diagnose("deployment", {
    description: "Containers with their memory requests and limits.",
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} get deployment {deployment} -o jsonpath='{.spec.template.spec.containers[*].resources}'"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("oom-kills", {
    description: "Pods whose last termination was OOMKilled.",
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l app={deployment} -o custom-columns=NAME:.metadata.name,RESTARTS:.status.containerStatuses[*].restartCount,LAST:.status.containerStatuses[*].lastState.terminated.reason"],
    run: async ({ params, outputs, targets }) => {
      const pods = await targets.kube(params.kube).listPods(params.namespace, selectorOf(outputs.deployment.selector));
      const kills = pods.flatMap((p) =>
        p.containers.filter((c) => c.lastTermination?.reason === "OOMKilled").map((c) => ({ pod: p.name, container: c.name, restarts: c.restarts, at: c.lastTermination?.finishedAt ?? null })),
      );
      return { pods: pods.length, kills };
    },
  })
  .diagnose("usage", {
    description: "Memory use per container from metrics-server, against the limit.",
    permissions: ["metrics.k8s.io/pods:list"],
    manual: ["kubectl -n {namespace} top pods -l app={deployment} --containers"],
    run: async ({ params, outputs, targets }) => {
      try {
        return await targets.kube(params.kube).podMemoryUsage(params.namespace, selectorOf(outputs.deployment.selector));
      } catch (err) {
        return { error: `metrics unavailable: ${(err as Error).message.slice(0, 160)}` };
      }
    },
  })
  .diagnose("new-limit", {
    description: "The bounded new limit: current x factor, rounded up to MiB, capped.",
    run: ({ params, outputs }) => {
      const name =
        params.container ??
        [...outputs["oom-kills"].kills].sort((a, b) => b.restarts - a.restarts)[0]?.container ??
        outputs.deployment.containers[0]?.name ??
        "";
      const c = outputs.deployment.containers.find((x) => x.name === name);
      const currentBytes = c?.memoryLimitBytes ?? null;
      if (!c || currentBytes === null) return { container: name, current: c?.memoryLimit ?? null, next: null, reason: c ? "the container has no memory limit" : `no container ${name}` };
      const nextMi = Math.min(Math.ceil((currentBytes * params.factor) / MI), params.capMi);
      if (nextMi * MI <= currentBytes) return { container: name, current: c.memoryLimit, next: null, reason: `already at or above the cap of ${params.capMi}Mi` };
      return { container: name, current: c.memoryLimit, next: `${nextMi}Mi`, reason: null };
    },
  })
  .act("raise-limit", {
    description: "Set the container's memory limit to the new value (a rolling update).",
    risk: "medium",
    permissions: ["apps/deployments:get", "apps/deployments:patch"],
    when: { if: ({ outputs }) => outputs["new-limit"].next !== null, reason: ({ outputs }) => `no higher limit to set: ${outputs["new-limit"].reason ?? "none computed"}` },
    locks: ({ params }) => [`kube:${params.kube}/deployments/${params.namespace}/${params.deployment}`],
    manual: [
      "kubectl -n {namespace} set resources deployment/{deployment} -c <container> --limits=memory=<new limit>",
      "kubectl -n {namespace} rollout status deployment/{deployment} --timeout=5m",
    ],
    preview: async ({ params, outputs, targets }) => {
      const n = outputs["new-limit"];
      const c = await targets.kube(params.kube).setMemoryLimit(params.namespace, params.deployment, n.container, n.next!, { dryRun: true });
      return { summary: c.summary, diff: c.diff, data: { container: n.container, next: n.next, previous: n.current } };
    },
    run: async ({ params, targets, previewData }) => {
      const d = previewData as { container: string; next: string; previous: string };
      await targets.kube(params.kube).setMemoryLimit(params.namespace, params.deployment, d.container, d.next);
      return d;
    },
    verifyTimeoutMs: 330_000,
    verify: async ({ params, targets, result, signal }) => {
      const kube = targets.kube(params.kube);
      const s = await kube.waitForRollout(params.namespace, params.deployment, { timeoutMs: 300_000, signal });
      const now = (await kube.getDeployment(params.namespace, params.deployment)).containers.find((c) => c.name === result.container);
      return { ok: s.done && now?.memoryLimit === result.next, detail: `${s.message}; limit ${now?.memoryLimit}` };
    },
    rollback: ({ params, targets, result }) =>
      targets.kube(params.kube).setMemoryLimit(params.namespace, params.deployment, result.container, result.previous),
  })
  .notify("follow-up", {
    message: ({ params, outputs }) =>
      outputs["new-limit"].next
        ? `Raised ${params.deployment}/${outputs["new-limit"].container} memory limit ${outputs["new-limit"].current} -> ${outputs["new-limit"].next}. Find why it grew (leak? bigger working set?) and right-size the request.`
        : `Did not raise the limit: ${outputs["new-limit"].reason}.`,
  });
