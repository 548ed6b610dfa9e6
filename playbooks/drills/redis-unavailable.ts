import { drill } from "../../src/sdk/index.ts";

/**
 * Rehearsal: Redis goes away under the API. Nothing real is stopped; the API's stand-in
 * (a loopback stub) serves from its fallback path, slower and with some errors, so the probe
 * measures "degrades, does not fail". No playbook answers redis-down yet: the drill expects
 * triage to say so (a gap the report turns into an action item).
 */
export default drill({
  id: "redis-unavailable",
  title: "Redis unavailable: the API degrades, not fails",
  mode: "rehearsal",
  rehearsalNote: "stands in for stopping Redis (or blocking its port) in staging",
  hypothesis: "If Redis is down, the API keeps answering from its fallback (under 25% errors, p95 under 1 s), and belay names redis-down within 60 s without claiming a playbook fits.",
  target: { kind: "simulated", name: "cache" },
  blastRadius: "none: simulated. In staging: every reader of the cache falls back to the database.",
  alert: ({ target }) => ({
    alertname: "RedisDown",
    summary: `Redis instance ${target} is down`,
    severity: "critical",
    labels: { redis: target, service: "api" },
  }),
  expect: { playbook: null, proposedWithinS: 60 },
  probe: { url: "simulated", intervalMs: 50, maxErrorRate: 0.25, maxP95Ms: 1_000 },
  holdS: 3,
})
  .inject("stop-redis", {
    simulated: true,
    preview: ({ target }) => `SIMULATED: Redis ${target} stops answering; the API (shop/api) serves from its fallback`,
    capture: () => ({ deployment: "shop/api" }),
    run: ({ faults, undo }) => faults.simulation.fault(undo.deployment, { kind: "degraded", latencyMs: 60, errorRate: 0.1 }),
    undo: ({ faults, undo }) => faults.simulation.fault(undo.deployment, null),
  });
