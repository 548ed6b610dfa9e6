import { from, type FailureMode } from "./types.ts";

/*
 * Application-level failures. Few public rule sets name these, so most are recognised from
 * free text (PagerDuty titles, slash commands); the nginx names are from
 * samber/awesome-prometheus-alerts and the ingress-nginx mixin.
 */
export const performance: readonly FailureMode[] = [
  {
    id: "latency-slo",
    category: "performance",
    symptom: "Tail latency is above its objective.",
    signals: {
      alertnames: [...from("awesome-prometheus-alerts", "NginxLatencyHigh")],
      labelHints: [{ label: "quantile" }],
      textPatterns: [
        /\b(p9[059]|99th percentile|tail) latency\b/i,
        /\blatency\b[^\n]{0,30}\b(above|over|exceeds?|higher than) (the )?(objective|SLO|threshold|\d)/i,
        /\blatency (is )?high\b/i,
      ],
    },
    defences: ["latency SLOs with burn-rate alerts", "timeouts and load shedding", "capacity headroom"],
    playbooks: ["api-deadlock-restart", "bad-deploy-rollback"],
  },
  {
    id: "error-rate-5xx",
    category: "performance",
    symptom: "A burst of server errors.",
    signals: {
      alertnames: [...from("ingress-nginx-mixin", "NginxHighHttp5xxErrorRate")],
      labelHints: [{ label: "status", value: /^5/ }, { label: "code", value: /^5/ }],
      textPatterns: [/\b5xx\b/i, /\bHTTP (status )?5\d\d\b/i, /\bserver errors\b/i, /\bhigh (http )?error rate\b/i, /\b50[0234] (errors|responses)\b/i],
    },
    defences: ["canary releases gated on error rate", "retries with budgets", "graceful degradation"],
    playbooks: ["bad-deploy-rollback"],
  },
  {
    id: "rate-limited-429",
    category: "performance",
    symptom: "Clients hit a quota and get 429s.",
    signals: {
      alertnames: [...from("cert-manager-mixin", "CertManagerHittingRateLimits")],
      labelHints: [{ label: "status", value: "429" }, { label: "code", value: "429" }],
      textPatterns: [/\b429\b/, /\btoo many requests\b/i, /\brate[- ]limit(ed|s|ing)?\b/i, /\bquota exceeded\b/i],
    },
    defences: ["client-side rate limiting", "backoff with jitter", "quota increases requested ahead of launches"],
    playbooks: [],
  },
  {
    id: "retry-storm",
    category: "performance",
    symptom: "Retries multiply load on a failing dependency.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [/\bretry storm\b/i, /\bretries\b[^\n]{0,40}\b(amplif\w*|multipl\w*|storm|flood\w*)\b/i, /\bretry (budget|rate)\b[^\n]{0,30}\b(exceeded|exhausted|high)\b/i],
    },
    defences: ["retry budgets", "exponential backoff with jitter", "retries at one layer only"],
    playbooks: [],
  },
  {
    id: "cascading-failure",
    category: "performance",
    symptom: "One failing service drags others down.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [/\bcascading (failure|outage)s?\b/i, /\bfailure\b[^\n]{0,30}\bcascad(es|ed|ing)\b/i],
    },
    defences: ["bulkheads and timeouts", "circuit breakers", "load shedding at the edge"],
    playbooks: [],
  },
  {
    id: "circuit-breaker-open",
    category: "performance",
    symptom: "Calls fail fast because a circuit breaker opened after a dependency outage.",
    signals: {
      alertnames: [],
      labelHints: [{ label: "circuitbreaker" }],
      textPatterns: [/\bcircuit[- ]?breakers?\b[^\n]{0,40}\b(open|opened|tripped)\b/i, /\bCircuitBreakerOpen\b/],
    },
    defences: ["half-open probing", "fallbacks for non-critical calls", "alerts on the dependency, not only the breaker"],
    playbooks: [],
  },
  {
    id: "thread-starvation",
    category: "performance",
    symptom: "No workers are free for new requests or jobs.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [
        /\bthread(s| pool)?\b[^\n]{0,20}\b(starv\w*|exhaust\w*)\b/i,
        /\bno (idle|free|available) (workers?|threads?)\b/i,
        /\b(worker|thread) pool\b[^\n]{0,30}\b(exhausted|saturated|full)\b/i,
        /\bworkers?\b[^\n]{0,40}\b(stopped|not) processing\b/i,
        /\bqueue\b[^\n]{0,40}\b(backlog|not draining|growing)\b/i,
      ],
    },
    defences: ["bounded queues with rejection", "timeouts on blocking calls", "separate pools for slow dependencies"],
    playbooks: ["api-deadlock-restart", "worker-restart"],
  },
  {
    id: "memory-leak",
    category: "performance",
    symptom: "Memory grows steadily until the process is OOM-killed.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [/\bmemory leak\b/i, /\bmemory\b[^\n]{0,30}\b(grows|growing|keeps growing|increasing) (steadily|linearly|without bound)\b/i, /\bheap\b[^\n]{0,30}\b(keeps )?growing\b/i],
    },
    defences: ["heap profiles in CI soak tests", "memory limits with alerts on the trend", "periodic restarts as a last resort"],
    playbooks: ["oom-killed-raise-limit"],
  },
  {
    id: "connection-storm",
    category: "performance",
    symptom: "A pool restart floods the database with new connections.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [/\b(re)?connect(ion)? storm\b/i, /\b(flood|surge|spike|burst) of (new )?connections\b/i, /\bconnections?\b[^\n]{0,20}\b(spiked|surged|flooded)\b/i],
    },
    defences: ["a connection pooler in front of the database", "jittered pool warm-up", "rolling restarts with a small surge"],
    playbooks: ["postgres-terminate-idle-in-transaction"],
  },
];

export const operations: readonly FailureMode[] = [
  {
    id: "metrics-pipeline-down",
    category: "operations",
    symptom: "The metrics agent cannot ship or scrape; dashboards stop updating.",
    signals: {
      alertnames: [
        ...from("prometheus-mixin", "PrometheusRemoteStorageFailures", "PrometheusRemoteWriteBehind"),
        // The Postgres exporter's own queries fail: the database's metrics stop being true.
        ...from("pgmonitor", "PGExporterScrapeError", "SQLExporterScrapeError"),
      ],
      labelHints: [{ label: "remote_name" }],
      textPatterns: [
        /\b(dashboards?|metrics)\b[^\n]{0,20}\b(have |has )?stopped (updating|shipping|arriving)\b/i,
        /\bfail(s|ed|ing)? to send samples to remote (storage|impl)\b/i,
        /\bremote[- ]write\b[^\n]{0,30}\b(behind|failing|failed|errors?)\b/i,
        /\b(metrics agent|otel collector|opentelemetry collector|grafana agent|alloy|datadog agent|vmagent)\b[^\n]{0,40}\b(down|stopped|not shipping|failing|crash\w*)\b/i,
      ],
    },
    defences: ["alert on absent metrics (a dead man's switch)", "agent queues sized for outages", "agents on every node as a DaemonSet"],
    playbooks: ["metrics-agent-restart"],
  },
  {
    id: "config-reload-failure",
    category: "operations",
    symptom: "A new configuration fails to load.",
    signals: {
      alertnames: [
        ...from("awesome-prometheus-alerts", "PrometheusConfigurationReloadFailure", "PrometheusAlertmanagerConfigurationReloadFailure", "BlackboxConfigurationReloadFailure"),
        ...from("prometheus-mixin", "PrometheusBadConfig", "AlertmanagerFailedReload"),
        ...from("ingress-nginx-mixin", "NginxConfigReloadFailed"),
      ],
      labelHints: [],
      textPatterns: [/\bconfig(uration)? reload (failed|failure|error)\b/i, /\bfailed to (re)?load (its |the )?config(uration)?\b/i, /\breload(ing)? (of )?(the )?config(uration)? failed\b/i],
    },
    defences: ["config validated in CI (promtool, nginx -t)", "reload metrics alerted on", "keep serving the last good config"],
    playbooks: [],
  },
  {
    id: "bad-deploy",
    category: "operations",
    symptom: "Breakage that started with a deploy; roll back.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [
        /\b(started|began|since|right) (right )?after (the |a |last |latest )?(deploy|deployment|release|rollout)\b/i,
        /\bbad (deploy|deployment|release|rollout)\b/i,
        /\b(regression|broke|breakage)\b[^\n]{0,40}\b(deploy|deployment|release)\b/i,
        /\broll ?back (the |last )?(deploy|deployment|release)\b/i,
      ],
    },
    defences: ["canary releases with automatic rollback", "feature flags", "one change at a time"],
    playbooks: ["bad-deploy-rollback", "pod-crashloop"],
  },
  {
    id: "secret-leak",
    category: "operations",
    symptom: "Credentials are exposed in logs or config.",
    signals: {
      alertnames: [],
      labelHints: [],
      textPatterns: [
        /\bsecret leak\b/i,
        /\b(credentials?|api keys?|access keys?|tokens?|passwords?|secrets?)\b[^\n]{0,30}\b(leaked|exposed|committed|logged|in (the )?logs)\b/i,
        /\b(gitleaks|trufflehog|secret scanning)\b/i,
      ],
    },
    defences: ["secret scanning in CI", "redaction before logging", "short-lived credentials"],
    playbooks: [],
  },
];
