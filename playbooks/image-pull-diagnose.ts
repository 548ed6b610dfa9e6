import { playbook, target, z } from "../src/sdk/index.ts";

function deploymentOfPod(pod: string | undefined): string | undefined {
  const m = pod ? /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod) : null;
  return m?.[1];
}

/** ImagePullBackOff / ErrImagePull / CreateContainerConfigError: gather what says why. The fix (tag, registry credentials, a missing Secret) is a human's. */
export default playbook({
  id: "image-pull-diagnose",
  title: "Image pull failing: show why",
  summary: "Lists the waiting pods with their reasons, the pull errors from events, and the images per revision, so the wrong tag, missing pull secret or registry outage is plain.",
  failureModes: ["image-pull-backoff"],
  symptoms: [
    "Pods stuck in ImagePullBackOff, ErrImagePull or CreateContainerConfigError",
    "Events: 'manifest unknown', 'pull access denied', 'x509', 'secret not found'",
  ],
  match: [
    { alertname: /^(KubePodNotReady|KubeContainerWaiting)$/, weight: 0.5 },
    { alertname: /^(ImagePullBackOff|KubePodImagePullBackOff)$/ },
    { text: /ImagePullBackOff|ErrImagePull|CreateContainerConfigError|pull access denied|manifest unknown/i },
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
    manual: ["kubectl -n {namespace} get deployment {deployment} -o jsonpath='{.spec.template.spec.containers[*].image}'"],
    run: ({ params, targets }) => targets.kube(params.kube).getDeployment(params.namespace, params.deployment),
  })
  .diagnose("waiting-pods", {
    description: "Pods waiting to start, with the kubelet's reason and message.",
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l app={deployment}"],
    run: async ({ params, outputs, targets }) =>
      (await targets.kube(params.kube).listPods(params.namespace, Object.entries(outputs.deployment.selector).map(([k, v]) => `${k}=${v}`).join(",")))
        .flatMap((p) => p.containers.filter((c) => c.state === "waiting").map((c) => ({ pod: p.name, container: c.name, image: c.image, reason: c.reason, message: c.message }))),
  })
  .diagnose("pull-events", {
    description: "Failed / BackOff events of the first waiting pod: the registry's own words.",
    permissions: ["core/events:list"],
    manual: ["kubectl -n {namespace} describe pod <pod> | sed -n '/Events/,$p'"],
    run: async ({ params, outputs, targets }) => {
      const pod = outputs["waiting-pods"][0]?.pod;
      return pod ? (await targets.kube(params.kube).events(params.namespace, pod)).filter((e) => e.type === "Warning") : [];
    },
  })
  .diagnose("history", {
    description: "Images per revision: did the tag change in the newest one?",
    permissions: ["apps/deployments:get", "apps/replicasets:list"],
    manual: ["kubectl -n {namespace} rollout history deployment/{deployment}"],
    run: async ({ params, targets }) => (await targets.kube(params.kube).revisions(params.namespace, params.deployment)).slice(0, 3),
  })
  .notify("findings", {
    message: ({ outputs }) => {
      const w = outputs["waiting-pods"];
      if (w.length === 0) return "No container is waiting on an image now.";
      const first = w[0]!;
      return `${w.length} containers waiting (${first.reason}) on ${first.image}. ${outputs["pull-events"].at(-1)?.message ?? ""} If the newest revision changed the tag, bad-deploy-rollback undoes it.`;
    },
  });
