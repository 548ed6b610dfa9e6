import { drill } from "../../src/sdk/index.ts";

/**
 * Rehearsal: latency injected into a dependency until the API's request threads hang.
 * The API's stand-in (a loopback stub) really answers slowly while the fault is on, so the
 * probe's p95 is measured, not made up; the restart belay proposes is simulated.
 */
export default drill({
  id: "slow-dependency",
  title: "Slow dependency: requests hang",
  mode: "rehearsal",
  rehearsalNote: "stands in for adding latency to a dependency (a fault proxy or tc netem in staging)",
  hypothesis: "If a dependency slows down until requests hang, belay proposes api-deadlock-restart within 60 s, it is approved within 5 minutes, and the API answers normally within 10 minutes.",
  target: { kind: "simulated", name: "shop/api" },
  blastRadius: "none: simulated. In staging: callers of the API see timeouts until the restart.",
  alert: () => ({
    alertname: "APILatencyHigh",
    summary: "p95 latency above 2 s: requests hang waiting on the payments dependency",
    severity: "warning",
    labels: { cluster: "drill-rehearsal", namespace: "shop", deployment: "api", service: "api" },
  }),
  expect: { playbook: "api-deadlock-restart", proposedWithinS: 60, approvedWithinS: 300, recoveredWithinS: 600 },
  probe: { url: "simulated", intervalMs: 50, maxP95Ms: 1_000 },
})
  .inject("add-latency", {
    simulated: true,
    preview: () => "SIMULATED: +400 ms on every call from shop/api to payments; the API's worker threads hang",
    capture: () => ({ deployment: "shop/api" }),
    run: ({ faults, undo }) => faults.simulation.fault(undo.deployment, { kind: "hung", logs: "SIMULATED: 200 threads WAITING on payments-client" }),
    undo: ({ faults, undo }) => faults.simulation.fault(undo.deployment, null),
  })
  .recovered(({ faults, run }) => ({
    ok: faults.simulation.faultOf("shop/api") === null && run?.status === "succeeded",
    detail: `simulated API ${faults.simulation.faultOf("shop/api") ? "still hung" : "answers normally"}; run ${run?.status ?? "none"}`,
  }));
