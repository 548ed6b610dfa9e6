import { drill } from "../../src/sdk/index.ts";

/**
 * Live, bounded: 16 concurrent GETs against a loopback or staging endpoint for 5 s, judged
 * against the SLO (under 1% errors, p95 under 250 ms). `--target URL` picks the endpoint;
 * the default is a loopback stand-in. Capacity alerts have no playbook: triage should say so.
 */
export default drill({
  id: "traffic-spike",
  title: "Traffic spike within the SLO",
  mode: "live",
  hypothesis: "Under a bounded spike (16 concurrent clients for 5 s) the endpoint stays within its SLO (errors under 1%, p95 under 250 ms), and belay triages the capacity alert within 60 s without claiming a playbook.",
  target: { kind: "http", name: "simulated" },
  blastRadius: "the endpoint given with --target (loopback by default): at most 16 requests in flight, for 5 s",
  alert: () => ({
    alertname: "KubeHpaMaxedOut",
    summary: "HPA shop/api has been running at max replicas during a traffic spike",
    severity: "warning",
    labels: { namespace: "shop", horizontalpodautoscaler: "api", service: "api" },
  }),
  expect: { playbook: null, proposedWithinS: 60 },
  probe: ({ target }) => ({ url: target, concurrency: 16, intervalMs: 20, timeoutMs: 2_000, maxErrorRate: 0.01, maxP95Ms: 250 }),
  holdS: 5,
})
  .inject("bounded-load", {
    description: "The load is the probe itself: 16 loops, one GET each every 20 ms, each with a 2 s timeout.",
    preview: ({ target }) => `16 concurrent GET loops (one request per loop every 20 ms, 2 s timeout) against ${target} for 5 s`,
    capture: () => ({}),
    run: () => undefined,
    undo: () => undefined,
  });
