import { from, type FailureMode } from "./types.ts";

/*
 * Alert names are those the public rule sets ship: kubernetes-mixin (kube-prometheus) and
 * samber/awesome-prometheus-alerts' kube-state-metrics rules.
 */
export const kubernetesWorkloads: readonly FailureMode[] = [
  {
    id: "pod-crashloop",
    category: "kubernetes-workloads",
    symptom: "Containers restart again and again (CrashLoopBackOff).",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubePodCrashLooping"), ...from("awesome-prometheus-alerts", "KubernetesPodCrashLooping")],
      labelHints: [{ label: "reason", value: "CrashLoopBackOff" }, { label: "container" }, { label: "pod" }],
      textPatterns: [/\bCrashLoopBackOff\b/i, /\bcrash[- ]?loop(ing)?\b/i, /back-off restarting failed container/i],
    },
    defences: ["startup probes sized to real start time", "progressive rollouts that halt on restarts", "last termination reason and previous logs on the alert"],
    playbooks: ["pod-crashloop"],
  },
  {
    id: "pod-not-ready",
    category: "kubernetes-workloads",
    symptom: "A pod stays Pending or Running but unready.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubePodNotReady"), ...from("awesome-prometheus-alerts", "KubernetesPodNotHealthy")],
      labelHints: [{ label: "phase", value: /^(Pending|Unknown)$/ }, { label: "pod" }],
      textPatterns: [
        /\bpod\b[^\n]{0,80}\bnon-ready state\b/i,
        /\bpods?\b[^\n]{0,60}\b(stuck|stays?|remain(s|ing)?) (in )?Pending\b/i,
        /\bFailedScheduling\b/,
        /\b0\/\d+ nodes are available\b/i,
        /\bpod\b[^\n]{0,60}\b(not ready|unready)\b/i,
      ],
    },
    defences: ["resource requests that fit the nodes", "PodDisruptionBudgets", "readiness probes that test only the pod itself"],
    playbooks: ["node-relabel-move"],
  },
  {
    id: "image-pull-backoff",
    category: "kubernetes-workloads",
    symptom: "A container waits on ImagePullBackOff, ErrImagePull or CreateContainerConfigError.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubeContainerWaiting")],
      labelHints: [{ label: "reason", value: /^(ImagePullBackOff|ErrImagePull|CreateContainerConfigError|CreateContainerError|InvalidImageName)$/ }],
      textPatterns: [/\b(ImagePullBackOff|ErrImagePull)\b/i, /\bCreateContainer(Config)?Error\b/i, /\bfailed to pull image\b/i, /\bInvalidImageName\b/],
    },
    defences: ["immutable image tags verified in CI", "registry pull secrets checked before deploy", "ConfigMaps and Secrets created before the workload"],
    playbooks: ["image-pull-diagnose"],
  },
  {
    id: "oom-killed",
    category: "kubernetes-workloads",
    symptom: "A container is killed for exceeding its memory limit.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "KubernetesContainerOomKiller", "HostOomKillDetected")],
      labelHints: [{ label: "reason", value: "OOMKilled" }, { label: "container" }],
      textPatterns: [/\bOOM[- ]?Kill(ed|er|s)?\b/i, /\bout of memory: kill(ed)? process\b/i, /\bexceed(s|ed|ing)? (its|the) memory limit\b/i, /\bOOM kill detected\b/i],
    },
    defences: ["memory limits sized from observed peaks", "VerticalPodAutoscaler recommendations", "alert on working set near the limit"],
    playbooks: ["oom-killed-raise-limit"],
  },
  {
    id: "deployment-replicas-mismatch",
    category: "kubernetes-workloads",
    symptom: "A Deployment has fewer available replicas than desired.",
    signals: {
      alertnames: [
        ...from("kubernetes-mixin", "KubeDeploymentReplicasMismatch"),
        ...from("awesome-prometheus-alerts", "KubernetesDeploymentReplicasMismatch", "KubernetesReplicassetMismatch"),
      ],
      labelHints: [{ label: "deployment" }],
      textPatterns: [
        /\bdeployment\b[^\n]{0,80}\b(has not|does not) match(ed)? the expected number of replicas\b/i,
        /\bfewer available replicas than desired\b/i,
        /\bdeployment\b.{0,40}\breplicas? (mismatch|unavailable)\b/i,
      ],
    },
    defences: ["PodDisruptionBudgets", "capacity headroom for a zone loss", "alert on availability, not on pod count"],
    playbooks: ["rollout-stuck-undo"],
  },
  {
    id: "deployment-rollout-stuck",
    category: "kubernetes-workloads",
    symptom: "A rollout makes no progress, or failed without rolling back.",
    signals: {
      alertnames: [
        ...from(
          "kubernetes-mixin",
          "KubeDeploymentRolloutStuck",
          "KubeDeploymentGenerationMismatch",
          "KubeStatefulSetGenerationMismatch",
          "KubeStatefulSetUpdateNotRolledOut",
          "KubeDaemonSetRolloutStuck",
        ),
        ...from(
          "awesome-prometheus-alerts",
          "KubernetesDeploymentGenerationMismatch",
          "KubernetesStatefulsetGenerationMismatch",
          "KubernetesStatefulsetUpdateNotRolledOut",
          "KubernetesDaemonsetRolloutStuck",
        ),
      ],
      labelHints: [{ label: "condition", value: "Progressing" }, { label: "deployment" }],
      textPatterns: [
        /\bProgressDeadlineExceeded\b/i,
        /\brollout\b[^\n]{0,40}\b(is )?(not progressing|stuck|stalled)\b/i,
        /\bhas failed but has not been rolled back\b/i,
        /\bexceeded its progress deadline\b/i,
        /\bupdate has not been rolled out\b/i,
      ],
    },
    defences: ["progressDeadlineSeconds on every Deployment", "automatic rollback on failed rollout", "maxUnavailable that keeps capacity"],
    playbooks: ["rollout-stuck-undo"],
  },
  {
    id: "statefulset-replicas-mismatch",
    category: "kubernetes-workloads",
    symptom: "A StatefulSet has fewer ready replicas than desired.",
    signals: {
      alertnames: [
        ...from("kubernetes-mixin", "KubeStatefulSetReplicasMismatch"),
        ...from("awesome-prometheus-alerts", "KubernetesStatefulsetReplicasMismatch", "KubernetesStatefulsetDown"),
      ],
      labelHints: [{ label: "statefulset" }],
      textPatterns: [
        /\bstatefulset\b[^\n]{0,80}\b(has not|does not) match(ed)? the expected number of replicas\b/i,
        /\bstatefulset\b.{0,40}\breplicas? mismatch\b/i,
        /\ba statefulset went down\b/i,
      ],
    },
    defences: ["PodDisruptionBudgets", "volume topology that matches node pools", "ordered, partitioned updates"],
    playbooks: [],
  },
  {
    id: "job-failed",
    category: "kubernetes-workloads",
    symptom: "A Job failed.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubeJobFailed"), ...from("awesome-prometheus-alerts", "KubernetesJobFailed")],
      labelHints: [{ label: "job_name" }],
      textPatterns: [/\bjob\b[^\n]{0,80}\bfailed to complete\b/i, /\bBackoffLimitExceeded\b/i, /\bjob has reached the specified backoff limit\b/i],
    },
    defences: ["idempotent jobs with a sane backoffLimit", "activeDeadlineSeconds", "alert on the last successful run time"],
    playbooks: ["job-failed-diagnose"],
  },
  {
    id: "hpa-maxed-out",
    category: "kubernetes-workloads",
    symptom: "An autoscaler has sat at its maximum.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubeHpaMaxedOut"), ...from("awesome-prometheus-alerts", "KubernetesHpaScaleCapability")],
      labelHints: [{ label: "horizontalpodautoscaler" }],
      textPatterns: [/\bHPA\b[^\n]{0,80}\brunning at max replicas\b/i, /\bat max(imum)? replicas\b/i, /\bmaximum number of desired pods has been hit\b/i],
    },
    defences: ["maxReplicas sized with the cluster's capacity", "load shedding before saturation", "alert on time spent at max"],
    playbooks: [],
  },
  {
    id: "cpu-throttling",
    category: "kubernetes-workloads",
    symptom: "CFS quota throttles a container.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "CPUThrottlingHigh")],
      labelHints: [{ label: "container" }],
      textPatterns: [/\bCPU throttling\b/i, /\bthrottling of CPU\b/i, /\bcfs\b.{0,30}\bthrottl/i],
    },
    defences: ["CPU limits removed or sized for bursts", "requests from observed usage", "GOMAXPROCS / worker counts that match the quota"],
    playbooks: [],
  },
  {
    id: "liveness-probe-loop",
    category: "kubernetes-workloads",
    symptom: "Liveness probes kill a container that is only slow to start.",
    signals: {
      alertnames: [],
      labelHints: [{ label: "container" }],
      textPatterns: [/\bliveness probe failed\b/i, /\bfailed liveness probe, will be restarted\b/i, /\bstartup probe failed\b/i, /\bliveness probes?\b[^\n]{0,60}\b(kill|restart)/i],
    },
    defences: ["startupProbe for slow starts", "liveness that checks only the process, not dependencies", "generous failureThreshold"],
    playbooks: [],
  },
  {
    id: "api-deadlock",
    category: "kubernetes-workloads",
    symptom: "Pods are up and ready, but real requests hang or time out.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [
        /\brequests?\b[^\n]{0,30}\b(hang|hangs|hanging|hung)\b/i,
        /\b(pods?|service|api)\b[^\n]{0,40}\bready\b[^\n]{0,40}\bbut\b[^\n]{0,60}\b(hang|time ?out|timing out|no response)/i,
        /\b(api|service|server|app|process)\b[^\n]{0,30}\bdeadlock(ed)?\b(?! detected)/i,
        /\ball goroutines are asleep\b/i,
      ],
    },
    defences: ["request timeouts on every call", "readiness probes that exercise the request path", "watchdog on in-flight request age"],
    playbooks: ["api-deadlock-restart", "worker-restart"],
  },
];
