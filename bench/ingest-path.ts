/**
 * `node --import tsx bench/ingest-path.ts`: the CPU one Alertmanager webhook (5 alerts) costs on
 * belay's ack path, piece by piece, in microseconds per webhook. Pure CPU on one thread, so
 * much steadier than the HTTP benchmark on a shared machine (CPU time, best of five rounds); prints JSON.
 */
import { performance } from "node:perf_hooks";
import { alertmanagerWebhookSchema, normaliseAlertmanager } from "../src/ingest/alertmanager-normalise.ts";
import { readAlertmanagerDelivery, unstorableReason } from "../src/ingest/alertmanager-webhook.ts";
import { redact } from "../src/audit/redact.ts";
import { newId } from "../src/ids.ts";

const PER_REQUEST = 5;
function payload(i: number): string {
  const alerts = Array.from({ length: PER_REQUEST }, (_, k) => {
    const n = i * PER_REQUEST + k;
    return {
      status: "firing",
      labels: { alertname: "KubePodCrashLooping", namespace: "storm-3", pod: `api-${n}`, container: "api", severity: "critical", job: "kube-state-metrics" },
      annotations: { summary: `Pod storm-3/api-${n} is crash looping`, description: "Pod is in waiting state (reason: CrashLoopBackOff)." },
      startsAt: new Date().toISOString(),
      endsAt: "0001-01-01T00:00:00Z",
      generatorURL: "http://prometheus-0:9090/graph?g0.expr=kube_pod_container_status_waiting_reason",
      fingerprint: n.toString(16).padStart(16, "0"),
    };
  });
  return JSON.stringify({
    receiver: "belay\\-webhook", status: "firing", alerts,
    groupLabels: { alertname: "KubePodCrashLooping", namespace: "storm-3" },
    commonLabels: { alertname: "KubePodCrashLooping", namespace: "storm-3", severity: "critical" },
    commonAnnotations: {}, externalURL: "http://alertmanager-0:9093", version: "4",
    groupKey: '{}/{severity="critical"}:{alertname="KubePodCrashLooping", namespace="storm-3"}', truncatedAlerts: 0,
  });
}

const N = Number(process.env.BENCH_ITERATIONS ?? 20_000);
const bodies = Array.from({ length: 200 }, (_, i) => payload(i));
const parsed = bodies.map((b) => JSON.parse(b) as unknown);
const read = parsed.map((j) => {
  const r = readAlertmanagerDelivery(j);
  if (!r.ok) throw new Error(r.error);
  return r.value;
});

/** CPU time (not wall time: the machine is shared), the best of five rounds. */
function time(name: string, fn: (i: number) => unknown): [string, number] {
  for (let i = 0; i < 2_000; i++) fn(i); // warm up
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N / 5; i++) fn(i);
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / (N / 5));
  }
  return [name, Math.round(best * 100) / 100];
}

const webhooks = parsed.map((j) => alertmanagerWebhookSchema.parse(j));
const rows: [string, number][] = [
  time("  of which the webhook schema (zod)", (i) => alertmanagerWebhookSchema.safeParse(parsed[i % 200])),
  time("  of which normalise", (i) => normaliseAlertmanager(webhooks[i % 200]!)),
  time("JSON.parse", (i) => JSON.parse(bodies[i % 200]!)),
  time("readAlertmanagerDelivery (zod + normalise)", (i) => readAlertmanagerDelivery(parsed[i % 200])),
  time("unstorableReason", (i) => unstorableReason(read[i % 200]!.alerts, "$alerts") ?? unstorableReason(read[i % 200]!.meta, "$meta")),
  time("newId", () => newId("dlv")),
  time("JSON.stringify (inbox row)", (i) => JSON.stringify({ id: "dlv_x", alerts: read[i % 200]!.alerts, meta: read[i % 200]!.meta })),
  time("redact (one alert, as the audit trail does)", (i) => redact(read[i % 200]!.alerts[0])),
];
console.log(JSON.stringify({ iterations: N, microsecondsPerWebhook: Object.fromEntries(rows) }, null, 2));
