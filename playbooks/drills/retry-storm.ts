import { drill } from "../../src/sdk/index.ts";

/** Rehearsal: a flapping dependency makes workers retry without backoff until the queue backs up. */
export default drill({
  id: "retry-storm",
  title: "Retry storm from a flapping dependency",
  mode: "rehearsal",
  rehearsalNote: "stands in for making a dependency flap (a fault proxy dropping every other connection in staging)",
  hypothesis: "If a dependency flaps and workers retry in a storm, belay proposes worker-restart within 60 s, it is approved within 5 minutes, and the queue drains within 10 minutes.",
  target: { kind: "simulated", name: "shop/worker" },
  blastRadius: "none: simulated. In staging: background jobs are delayed; the dependency sees retry traffic.",
  alert: () => ({
    alertname: "QueueBacklogGrowing",
    summary: "jobs queue backlog growing: workers stuck retrying calls to a flapping dependency",
    severity: "warning",
    labels: { cluster: "drill-rehearsal", namespace: "shop", deployment: "worker", service: "worker" },
  }),
  expect: { playbook: "worker-restart", proposedWithinS: 60, approvedWithinS: 300, recoveredWithinS: 600 },
})
  .inject("flap-dependency", {
    simulated: true,
    preview: () => "SIMULATED: the payments dependency drops every other connection; shop/worker retries without backoff",
    capture: () => ({ deployment: "shop/worker" }),
    run: ({ faults, undo }) => faults.simulation.fault(undo.deployment, { kind: "hung", logs: "SIMULATED: retry 48/50 for job 9121: ECONNRESET" }),
    undo: ({ faults, undo }) => faults.simulation.fault(undo.deployment, null),
  })
  .recovered(({ faults, run }) => ({
    ok: faults.simulation.faultOf("shop/worker") === null && run?.status === "succeeded",
    detail: `simulated workers ${faults.simulation.faultOf("shop/worker") ? "still retrying" : "draining the queue"}; run ${run?.status ?? "none"}`,
  }));
