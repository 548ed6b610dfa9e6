import { playbook, rolloutRestartStep, rolloutUndoStep, target, z } from "../src/sdk/index.ts";

/** `api-7c9d6b5f4-x2x7k` -> `api`: a Deployment's pod carries its ReplicaSet hash and a suffix. */
function deploymentOfPod(pod: string | undefined): string | undefined {
  const m = pod ? /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod) : null;
  return m?.[1];
}

/**
 * Crash-looping pods. If the crashes began with a rollout (the crashing pods belong to the
 * newest ReplicaSet and it was created shortly before the first crash) roll back; otherwise
 * a rolling restart clears the bad state without changing what runs.
 */
export default playbook({
  id: "pod-crashloop",
  title: "Pods crash-looping: roll back a bad rollout, else restart",
  summary:
    "Reads pod status, last termination reasons, previous-container logs, events and rollout history. Rolls back when the crashes started with the newest revision; otherwise restarts the Deployment.",
  failureModes: ["pod-crashloop", "bad-deploy"],
  symptoms: [
    "Pods in CrashLoopBackOff, restart count climbing",
    "KubePodCrashLooping firing for one Deployment",
    "Errors or panics in the previous container's logs",
  ],
  match: [
    { alertname: "KubePodCrashLooping" },
    { alertname: /^(PodCrashLooping|ContainerCrashLooping)$/ },
    { text: /crash ?loop|CrashLoopBackOff/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    deployment: z.string().min(1),
    /** How close to the newest revision the first crash must be to blame the rollout. */
    rolloutWindowMinutes: z.number().int().min(1).max(24 * 60).default(120),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    deployment: a.labels.deployment ?? deploymentOfPod(a.labels.pod),
  }),
})
  .diagnose("deployment", {
    description: "The Deployment's replicas, images and revision.",
    permissions: ["apps/deployments:get"],
    manual: ["kubectl -n {namespace} get deployment {deployment} -o wide"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("pods", {
    description: "Pods with status, restarts and last termination reason.",
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l app={deployment} -o wide"],
    run: ({ params, outputs, targets }) =>
      targets.kube(params.kube).listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(",")),
  })
  .diagnose("previous-logs", {
    description: "The last lines the crashed container wrote before it died.",
    permissions: ["core/pods/log:get"],
    manual: ["kubectl -n {namespace} logs deploy/{deployment} --previous --tail=100"],
    run: async ({ params, outputs, targets }) => {
      const worst = [...outputs.pods].sort((a, b) => b.restarts - a.restarts)[0];
      if (!worst) return { pod: null, logs: "" };
      const container = [...worst.containers].sort((a, b) => b.restarts - a.restarts)[0]?.name;
      try {
        return { pod: worst.name, container, logs: await targets.kube(params.kube).logs(params.namespace, worst.name, { container, previous: true, tailLines: 100 }) };
      } catch (err) {
        return { pod: worst.name, container, logs: `(no previous logs: ${(err as Error).message.slice(0, 200)})` };
      }
    },
  })
  .diagnose("events", {
    description: "Events of the worst pod: BackOff, OOMKilling, probe failures.",
    permissions: ["core/events:list"],
    manual: ["kubectl -n {namespace} get events --field-selector involvedObject.kind=Pod --sort-by=.lastTimestamp"],
    run: ({ params, outputs, targets }) =>
      outputs["previous-logs"].pod ? targets.kube(params.kube).events(params.namespace, outputs["previous-logs"].pod) : [],
  })
  .diagnose("rollout", {
    description: "Did the crashes begin with the newest revision?",
    permissions: ["apps/deployments:get", "apps/replicasets:list"],
    manual: ["kubectl -n {namespace} rollout history deployment/{deployment}"],
    run: async ({ params, outputs, targets }) => {
      const revisions = await targets.kube(params.kube).revisions(params.namespace, params.deployment);
      const newest = revisions[0];
      const crashing = outputs.pods.filter((p) => p.restarts > 0 || p.reason === "CrashLoopBackOff");
      const crashTimes = crashing.flatMap((p) => p.containers.map((c) => c.lastTermination?.finishedAt).filter((t): t is string => !!t));
      const firstCrash = crashTimes.sort()[0] ?? null;
      const onNewest = crashing.length > 0 && !!newest && crashing.every((p) => p.ownerName === newest.replicaSet);
      const minutesAfterRollout =
        newest?.createdAt && firstCrash ? (Date.parse(firstCrash) - Date.parse(newest.createdAt)) / 60_000 : null;
      const beganWithRollout =
        revisions.length > 1 && onNewest && minutesAfterRollout !== null && minutesAfterRollout >= 0 && minutesAfterRollout <= params.rolloutWindowMinutes;
      return { revisions: revisions.slice(0, 5), crashing: crashing.length, firstCrash, minutesAfterRollout, beganWithRollout };
    },
  })
  .act("roll-back", {
    ...rolloutUndoStep({ description: "kubectl rollout undo: back to the previous revision." }),
    when: { if: ({ outputs }) => outputs.rollout.beganWithRollout, reason: "the crashes did not begin with the latest rollout: rolling back would not help" },
  })
  .act("restart", {
    ...rolloutRestartStep({ description: "kubectl rollout restart: new pods, same revision.", irreversible: "a restart replaces pods with identical ones; there is nothing to undo" }),
    when: { if: ({ outputs }) => !outputs.rollout.beganWithRollout, reason: "the crashes began with the latest rollout: it is rolled back instead" },
  })
  .diagnose("after", {
    description: "Pods after the change: restarts should stop climbing.",
    permissions: ["core/pods:list"],
    run: async ({ params, outputs, targets }) =>
      (await targets.kube(params.kube).listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(","))).map((p) => ({
        name: p.name,
        ready: p.ready,
        restarts: p.restarts,
        reason: p.reason,
      })),
  })
  .notify("summary", {
    message: ({ params, outputs }) =>
      outputs.rollout.beganWithRollout
        ? `Rolled ${params.namespace}/${params.deployment} back: crashes began ${Math.round(outputs.rollout.minutesAfterRollout ?? 0)} min after revision ${outputs.rollout.revisions[0]?.revision}.`
        : `Restarted ${params.namespace}/${params.deployment}; the crashes did not start with a rollout.`,
  });
