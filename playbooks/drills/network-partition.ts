import { drill } from "../../src/sdk/index.ts";

/**
 * Rehearsal: a network partition between the API and its database. A restart does not heal
 * a partition: the drill expects belay NOT to claim a playbook for it, and the probe shows
 * whether the API fails fast (503s) instead of hanging.
 */
export default drill({
  id: "network-partition",
  title: "Network partition to a dependency",
  mode: "rehearsal",
  rehearsalNote: "stands in for a NetworkPolicy or iptables rule dropping traffic to the database in staging",
  hypothesis: "If the API is partitioned from its database, it fails fast (p95 under 500 ms, no hanging requests), and belay triages it within 60 s without proposing a restart, which would not help.",
  target: { kind: "simulated", name: "shop/api" },
  blastRadius: "none: simulated. In staging: the API cannot reach postgres until the rule is removed.",
  alert: () => ({
    alertname: "DependencyUnreachable",
    summary: "network partition: shop/api cannot reach postgres-main (no route to host)",
    severity: "critical",
    labels: { cluster: "drill-rehearsal", namespace: "shop", service: "api", dependency: "postgres-main" },
  }),
  expect: { playbook: null, proposedWithinS: 60 },
  probe: { url: "simulated", intervalMs: 50, maxP95Ms: 500 },
  holdS: 3,
})
  .inject("partition", {
    simulated: true,
    preview: () => "SIMULATED: drop all traffic from shop/api to postgres-main:5432",
    capture: () => ({ deployment: "shop/api" }),
    run: ({ faults, undo }) => faults.simulation.fault(undo.deployment, { kind: "unreachable", logs: "SIMULATED: connect ECONNREFUSED postgres-main:5432" }),
    undo: ({ faults, undo }) => faults.simulation.fault(undo.deployment, null),
  });
