import { drill } from "../../src/sdk/index.ts";

/** Rehearsal: the metrics agent crash-loops and remote write falls behind: dashboards go stale. */
export default drill({
  id: "telemetry-collector-down",
  title: "Telemetry collector down",
  mode: "rehearsal",
  rehearsalNote: "stands in for scaling the collector to zero or breaking its config in staging",
  hypothesis: "If the metrics agent crash-loops, belay proposes metrics-agent-restart within 60 s, it is approved within 5 minutes, and the agent is running again within 10 minutes.",
  target: { kind: "simulated", name: "monitoring/metrics-agent" },
  blastRadius: "none: simulated. In staging: dashboards and alerts go blind until the agent is back.",
  alert: () => ({
    alertname: "PrometheusRemoteWriteBehind",
    summary: "remote write is 10 minutes behind: the metrics agent is crash-looping",
    severity: "warning",
    labels: { cluster: "drill-rehearsal", namespace: "monitoring", deployment: "metrics-agent" },
  }),
  expect: { playbook: "metrics-agent-restart", proposedWithinS: 60, approvedWithinS: 300, recoveredWithinS: 600 },
})
  .inject("crash-agent", {
    simulated: true,
    preview: () => "SIMULATED: monitoring/metrics-agent crash-loops (bad WAL segment)",
    capture: () => ({ deployment: "monitoring/metrics-agent" }),
    run: ({ faults, undo }) => faults.simulation.fault(undo.deployment, { kind: "crashing", reason: "CrashLoopBackOff", logs: "SIMULATED: err=\"corrupted WAL segment 000142\"" }),
    undo: ({ faults, undo }) => faults.simulation.fault(undo.deployment, null),
  })
  .recovered(({ faults, run }) => ({
    ok: faults.simulation.faultOf("monitoring/metrics-agent") === null && run?.status === "succeeded",
    detail: `simulated agent ${faults.simulation.faultOf("monitoring/metrics-agent") ? "still crash-looping" : "running"}; run ${run?.status ?? "none"}`,
  }));
