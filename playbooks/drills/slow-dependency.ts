import { drill } from "../../src/sdk/index.ts";

/**
 * Rehearsal: 100 ms of latency injected on the API's payments dependency, judged against the
 * API's SLO from its HTTP probe (p95, error rate), not by whether requests "hang". The API's
 * stand-in (a loopback stub) really answers 100 ms slower while the fault is on, so p95 and
 * the error rate are measured. A restart would not make a slow dependency faster: belay
 * should triage and claim no playbook.
 */
export default drill({
  id: "slow-dependency",
  title: "Slow dependency: +100 ms on payments",
  mode: "rehearsal",
  rehearsalNote: "stands in for adding latency to a dependency (a fault proxy or tc netem in staging, e.g. `tc qdisc add dev eth0 root netem delay 100ms`)",
  hypothesis:
    "If the payments dependency gets 100 ms slower, the API stays inside its SLO (p95 under 250 ms, under 1% errors), and belay triages the latency alert within 60 s without proposing a restart that would not help.",
  target: { kind: "simulated", name: "shop/api" },
  blastRadius: "none: simulated. In staging: callers of the API see about 100 ms more latency for the drill's duration.",
  // What notices +100 ms inside the SLO is the dependency's own latency alert (the API's p95 > 2 s alert would not fire).
  alert: () => ({
    alertname: "UpstreamLatencyHigh",
    summary: "calls from api to payments are about 100 ms slower than their baseline",
    severity: "warning",
    labels: { cluster: "drill-rehearsal", namespace: "shop", deployment: "api", service: "api", upstream: "payments" },
  }),
  expect: { playbook: null, proposedWithinS: 60 },
  // The SLO the drill judges: the API's p95 and error rate while the dependency is slow.
  probe: { url: "simulated", intervalMs: 50, maxP95Ms: 250, maxErrorRate: 0.01 },
  // Long enough for the probe's p95 to mean something.
  holdS: 3,
})
  .inject("add-latency", {
    simulated: true,
    preview: () => "SIMULATED: +100 ms on every call from shop/api to payments (no errors injected)",
    capture: () => ({ deployment: "shop/api" }),
    run: ({ faults, undo }) => faults.simulation.fault(undo.deployment, { kind: "degraded", latencyMs: 100, errorRate: 0, logs: "SIMULATED: payments-client calls take +100 ms" }),
    undo: ({ faults, undo }) => faults.simulation.fault(undo.deployment, null),
  });
