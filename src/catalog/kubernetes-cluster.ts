import { from, type FailureMode } from "./types.ts";

/*
 * Alert names from kubernetes-mixin, node-mixin (node_exporter), coredns-mixin, the
 * cert-manager mixin, kube-prometheus' general rules, prometheus-mixin and
 * samber/awesome-prometheus-alerts (node-exporter, kube-state-metrics, blackbox, Prometheus).
 */
export const kubernetesCluster: readonly FailureMode[] = [
  {
    id: "node-not-ready",
    category: "kubernetes-nodes",
    symptom: "A node reports NotReady.",
    signals: {
      alertnames: [
        ...from("kubernetes-mixin", "KubeNodeNotReady", "KubeNodeReadinessFlapping"),
        ...from("awesome-prometheus-alerts", "KubernetesNodeReady", "KubernetesNodeNotReady"),
      ],
      labelHints: [{ label: "condition", value: "Ready" }, { label: "node" }],
      textPatterns: [/\bnode\b[^\n]{0,60}\b(is )?not ?ready\b/i, /\bNotReady\b/, /\bhas been unready for\b/i, /\bnode readiness status is flapping\b/i],
    },
    defences: ["node auto-repair", "workloads spread across nodes and zones", "PodDisruptionBudgets"],
    playbooks: ["node-cordon-drain", "node-relabel-move"],
  },
  {
    id: "node-unreachable",
    category: "kubernetes-nodes",
    symptom: "A node carries the unreachable taint.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubeNodeUnreachable")],
      labelHints: [{ label: "key", value: "node.kubernetes.io/unreachable" }, { label: "node" }],
      textPatterns: [/node\.kubernetes\.io\/unreachable/i, /\bnode\b[^\n]{0,60}\bunreachable\b/i, /\bunreachable and some workloads may be rescheduled\b/i],
    },
    defences: ["tolerationSeconds tuned for unreachable nodes", "workloads spread across zones", "node auto-repair"],
    playbooks: ["node-cordon-drain"],
  },
  {
    id: "node-disk-pressure",
    category: "kubernetes-nodes",
    symptom: "The kubelet reports DiskPressure and evicts pods.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "KubernetesDiskPressure")],
      labelHints: [{ label: "condition", value: "DiskPressure" }, { label: "node" }],
      textPatterns: [/\bDiskPressure\b/i, /\bdisk pressure\b/i, /\blow on resource: ephemeral-storage\b/i, /\bevict\w*\b[^\n]{0,60}\b(ephemeral-storage|nodefs|imagefs)\b/i],
    },
    defences: ["ephemeral-storage requests and limits", "log rotation", "image garbage collection thresholds"],
    playbooks: ["node-cordon-drain", "node-relabel-move"],
  },
  {
    id: "node-memory-pressure",
    category: "kubernetes-nodes",
    symptom: "The kubelet reports MemoryPressure and evicts pods.",
    signals: {
      alertnames: [
        ...from("awesome-prometheus-alerts", "KubernetesMemoryPressure", "HostMemoryUnderMemoryPressure"),
        ...from("node-mixin", "NodeMemoryMajorPagesFaults"),
      ],
      labelHints: [{ label: "condition", value: "MemoryPressure" }, { label: "node" }],
      textPatterns: [/\bMemoryPressure\b/i, /\bmemory pressure\b/i, /\blow on resource: memory\b/i, /\bmajor page faults\b/i],
    },
    defences: ["memory requests equal to limits for critical pods", "kube-reserved and system-reserved", "eviction thresholds with headroom"],
    playbooks: ["node-cordon-drain", "node-relabel-move"],
  },
  {
    id: "node-memory-high",
    category: "kubernetes-nodes",
    symptom: "A node's memory is nearly used up.",
    signals: {
      alertnames: [...from("node-mixin", "NodeMemoryHighUtilization"), ...from("awesome-prometheus-alerts", "HostOutOfMemory")],
      labelHints: [{ label: "instance" }],
      textPatterns: [/\bhost is running out of memory\b/i, /\bnode memory is filling up\b/i, /\bhost out of memory\b/i, /\bmemory is filling up at\b/i],
    },
    defences: ["requests that reflect real usage", "cluster autoscaler headroom", "alert before the OOM killer acts"],
    playbooks: [],
  },
  {
    id: "kubelet-down",
    category: "kubernetes-nodes",
    symptom: "Kubelets cannot be scraped or are down.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubeletDown")],
      labelHints: [{ label: "job", value: "kubelet" }],
      textPatterns: [/\bkubelet has disappeared from prometheus target discovery\b/i, /\bkubelet\b[^\n]{0,40}\b(is )?(down|not running|not responding|unhealthy)\b/i],
    },
    defences: ["kubelet under systemd with restart", "node problem detector", "alert on absent kubelet targets"],
    playbooks: ["node-cordon-drain"],
  },
  {
    id: "capacity-overcommit",
    category: "kubernetes-nodes",
    symptom: "Resource requests exceed what the cluster survives a node loss with.",
    signals: {
      alertnames: [
        ...from("kubernetes-mixin", "KubeCPUOvercommit", "KubeMemoryOvercommit", "KubeCPUQuotaOvercommit", "KubeMemoryQuotaOvercommit"),
        ...from("awesome-prometheus-alerts", "KubernetesOutOfCapacity"),
      ],
      labelHints: [],
      textPatterns: [/\bovercommitted (CPU|memory) resource requests\b/i, /\bcannot tolerate node failure\b/i, /\bis out of capacity\b/i],
    },
    defences: ["N+1 capacity planning", "cluster autoscaler", "ResourceQuotas per namespace"],
    playbooks: [],
  },
  {
    id: "disk-filling",
    category: "kubernetes-nodes",
    symptom: "A node filesystem fills, or will soon.",
    signals: {
      alertnames: [
        ...from("node-mixin", "NodeFilesystemSpaceFillingUp", "NodeFilesystemAlmostOutOfSpace"),
        ...from("awesome-prometheus-alerts", "HostOutOfDiskSpace", "HostDiskWillFillIn24Hours", "HostDiskWillFillIn4Hours"),
      ],
      labelHints: [{ label: "mountpoint" }, { label: "device" }],
      textPatterns: [
        /\bfilesystem\b[^\n]{0,80}\b(run out of space|available space|space left)\b/i,
        /\bdisk is almost full\b/i,
        /\bno space left on device\b/i,
        /\bdisk will fill\b/i,
      ],
    },
    defences: ["log rotation and retention", "disk usage forecasts", "separate volumes for data and logs"],
    playbooks: [],
  },
  {
    id: "inode-exhaustion",
    category: "kubernetes-nodes",
    symptom: "A filesystem runs out of inodes.",
    signals: {
      alertnames: [
        ...from("node-mixin", "NodeFilesystemFilesFillingUp", "NodeFilesystemAlmostOutOfFiles"),
        ...from("kubernetes-mixin", "KubePersistentVolumeInodesFillingUp"),
        ...from("awesome-prometheus-alerts", "HostOutOfInodes", "HostInodesWillFillIn24Hours"),
      ],
      labelHints: [{ label: "mountpoint" }],
      textPatterns: [/\binodes?\b[^\n]{0,40}\b(left|run out|running out|filling up)\b/i, /\bout of (available )?inodes\b/i, /\bfree inodes\b/i],
    },
    defences: ["cleanup of small temporary files", "filesystems created with enough inodes", "inode usage forecasts"],
    playbooks: [],
  },
  {
    id: "pv-filling",
    category: "kubernetes-nodes",
    symptom: "A PersistentVolume fills, or will soon.",
    signals: {
      alertnames: [
        ...from("kubernetes-mixin", "KubePersistentVolumeFillingUp"),
        ...from("awesome-prometheus-alerts", "KubernetesVolumeOutOfDiskSpace", "KubernetesVolumeFullInFourDays"),
        // A CloudNativePG instance's data, WAL or tablespace PVC filling up.
        ...from("cloudnative-pg", "CNPGClusterLowDiskSpaceWarning"),
      ],
      labelHints: [{ label: "persistentvolumeclaim" }],
      textPatterns: [/\bPersistentVolume\b[^\n]{0,120}\b(only .{0,20} free|filling up|expected to fill up)\b/i, /\bvolume is almost full\b/i, /\bPVC\b[^\n]{0,40}\b(full|filling up)\b/i],
    },
    defences: ["volume expansion enabled on the StorageClass", "retention on what the volume stores", "usage forecasts"],
    playbooks: [],
  },
  {
    id: "clock-skew",
    category: "kubernetes-nodes",
    symptom: "A node's clock drifts from NTP.",
    signals: {
      alertnames: [
        ...from("node-mixin", "NodeClockSkewDetected", "NodeClockNotSynchronising"),
        ...from("awesome-prometheus-alerts", "HostClockSkew", "HostClockNotSynchronising"),
      ],
      labelHints: [],
      textPatterns: [/\bclock skew\b/i, /\bclock\b[^\n]{0,40}\bout of sync\b/i, /\bclock not synchronising\b/i, /\bNTP\b[^\n]{0,40}\b(configured|sync|drift)/i],
    },
    defences: ["chrony or systemd-timesyncd on every node", "alert on offset, not only on sync status"],
    playbooks: [],
  },
  {
    id: "coredns-down",
    category: "kubernetes-nodes",
    symptom: "Cluster DNS is down.",
    signals: {
      alertnames: [...from("coredns-mixin", "CoreDNSDown")],
      labelHints: [{ label: "job", value: /^(kube-dns|coredns)$/ }],
      textPatterns: [/\bcoredns has disappeared from prometheus target discovery\b/i, /\b(coredns|kube-dns|cluster dns)\b[^\n]{0,40}\b(is )?(down|unavailable|not running|crash\w*)\b/i],
    },
    defences: ["several CoreDNS replicas with anti-affinity", "NodeLocal DNSCache", "PodDisruptionBudget for CoreDNS"],
    playbooks: ["coredns-restart"],
  },
  {
    id: "dns-latency",
    category: "kubernetes-nodes",
    symptom: "Cluster DNS answers slowly.",
    signals: {
      alertnames: [...from("coredns-mixin", "CoreDNSLatencyHigh", "CoreDNSForwardLatencyHigh")],
      labelHints: [{ label: "job", value: /^(kube-dns|coredns)$/ }],
      textPatterns: [/\bcoredns has 99th percentile latency\b/i, /\bdns\b[^\n]{0,40}\b(slow|latency|timeouts?|timing out)\b/i, /\b:53: i\/o timeout\b/i],
    },
    defences: ["NodeLocal DNSCache", "ndots tuned in pod dnsConfig", "CoreDNS autoscaling"],
    playbooks: ["coredns-restart"],
  },
  {
    id: "dns-servfail",
    category: "kubernetes-nodes",
    symptom: "Cluster DNS answers SERVFAIL.",
    signals: {
      alertnames: [...from("coredns-mixin", "CoreDNSErrorsHigh", "CoreDNSForwardErrorsHigh")],
      labelHints: [{ label: "rcode", value: "SERVFAIL" }],
      textPatterns: [/\bSERVFAIL\b/i],
    },
    defences: ["redundant upstream resolvers", "CoreDNS cache plugin with serve_stale"],
    playbooks: ["coredns-restart"],
  },
  {
    id: "target-down",
    category: "kubernetes-nodes",
    symptom: "Prometheus cannot scrape a target.",
    signals: {
      alertnames: [
        ...from("kube-prometheus", "TargetDown"),
        ...from("kubernetes-mixin", "KubeAPIDown", "KubeSchedulerDown", "KubeControllerManagerDown", "KubeProxyDown"),
        ...from("awesome-prometheus-alerts", "PrometheusTargetMissing", "PrometheusAllTargetsMissing", "PrometheusJobMissing"),
      ],
      labelHints: [{ label: "job" }, { label: "service" }],
      textPatterns: [
        /\btargets?\b[^\n]{0,60}\b(are down|is down|are unreachable|has disappeared|disappeared)\b/i,
        /\bdisappeared from prometheus target discovery\b/i,
        /\bup == 0\b/,
      ],
    },
    defences: ["alert on absent() as well as up == 0", "scrape targets behind stable Services"],
    playbooks: ["metrics-agent-restart"],
  },
  {
    id: "slo-error-budget-burn",
    category: "kubernetes-nodes",
    symptom: "An SLO burns its error budget too fast.",
    signals: {
      alertnames: [...from("kubernetes-mixin", "KubeAPIErrorBudgetBurn"), ...from("common", "ErrorBudgetBurn")],
      labelHints: [{ label: "slo" }, { label: "sloth_slo" }, { label: "long" }],
      textPatterns: [/\berror budget\b/i, /\bburn(ing)? rate\b/i],
    },
    defences: ["multi-window, multi-burn-rate alerts", "release freezes tied to remaining budget"],
    playbooks: [],
  },
  {
    id: "cert-expiry",
    category: "kubernetes-nodes",
    symptom: "A TLS certificate expires soon or has expired.",
    signals: {
      alertnames: [
        ...from("kubernetes-mixin", "KubeClientCertificateExpiration", "KubeletClientCertificateExpiration", "KubeletServerCertificateExpiration"),
        ...from("cert-manager-mixin", "CertManagerCertExpirySoon", "CertManagerCertNotReady"),
        ...from(
          "awesome-prometheus-alerts",
          "BlackboxSslCertificateWillExpireSoon",
          "BlackboxSslCertificateWillExpireVerySoon",
          "BlackboxSslCertificateExpired",
          "KubernetesClientCertificateExpiresNextWeek",
          "KubernetesClientCertificateExpiresSoon",
        ),
      ],
      labelHints: [],
      textPatterns: [/\bcert(ificate)?\b[^\n]{0,60}\b(expir(y|es|ed|ing)|about to expire)\b/i, /\bx509: certificate has expired\b/i, /\bcert\b[^\n]{0,40}\bnot ready to serve traffic\b/i],
    },
    defences: ["cert-manager with renewal well before expiry", "expiry probes on every public endpoint"],
    playbooks: [],
  },
  {
    id: "endpoint-down",
    category: "kubernetes-nodes",
    symptom: "A synthetic probe of an endpoint fails.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "BlackboxProbeFailed", "BlackboxProbeHttpFailure"), ...from("common", "ProbeFailed")],
      labelHints: [{ label: "job", value: /blackbox|probe/ }],
      textPatterns: [/\b(blackbox )?probe failed\b/i, /\bprobe_success\b/, /\bHTTP status code is not 200-399\b/i, /\bsynthetic (check|probe|monitor)\b[^\n]{0,40}\bfail/i],
    },
    defences: ["probes from several regions", "probe the user path, not a health endpoint only"],
    playbooks: [],
  },
];
