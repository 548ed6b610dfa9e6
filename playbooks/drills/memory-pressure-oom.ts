import { drill } from "../../src/sdk/index.ts";

/** Rehearsal: the API's working set outgrows its memory limit and its containers are OOM-killed. */
export default drill({
  id: "memory-pressure-oom",
  title: "Memory pressure: containers OOM-killed",
  mode: "rehearsal",
  rehearsalNote: "stands in for a memory hog sidecar or a lowered limit in a staging namespace",
  hypothesis: "If the API is OOM-killed at its limit, belay proposes oom-killed-raise-limit within 60 s, it is approved within 5 minutes, and the pods stay up within 10 minutes.",
  target: { kind: "simulated", name: "shop/api" },
  blastRadius: "none: simulated. In staging: the API restarts repeatedly until the limit is raised.",
  alert: () => ({
    alertname: "KubeContainerOOMKilled",
    summary: "container api in shop/api-5d9c7b6f4d-abcde was OOMKilled (exit code 137)",
    severity: "critical",
    labels: { cluster: "drill-rehearsal", namespace: "shop", deployment: "api", container: "api", pod: "api-5d9c7b6f4d-abcde" },
  }),
  expect: { playbook: "oom-killed-raise-limit", proposedWithinS: 60, approvedWithinS: 300, recoveredWithinS: 600 },
})
  .inject("oom-kill", {
    simulated: true,
    preview: () => "SIMULATED: shop/api's working set passes its 512Mi limit; containers OOMKilled (exit 137)",
    capture: () => ({ deployment: "shop/api" }),
    run: ({ faults, undo }) => faults.simulation.fault(undo.deployment, { kind: "oom-killed", limit: "512Mi" }),
    undo: ({ faults, undo }) => faults.simulation.fault(undo.deployment, null),
  })
  .recovered(({ faults, run }) => ({
    ok: faults.simulation.faultOf("shop/api") === null && run?.status === "succeeded",
    detail: `simulated pods ${faults.simulation.faultOf("shop/api") ? "still OOMKilled" : "stay up"}; run ${run?.status ?? "none"}`,
  }));
