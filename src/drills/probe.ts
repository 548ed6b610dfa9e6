import type { DrillProbe, ProbeStats } from "../sdk/drill.ts";

/** The p-th percentile (nearest rank) of the values; null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * GETs the probe's URL from `concurrency` loops, one request per loop every `intervalMs`,
 * until stopped. A bounded load: at most concurrency requests in flight, each with a timeout.
 */
export class HttpProbe {
  private readonly latencies: number[] = [];
  private errors = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly spec: DrillProbe,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const n = Math.max(1, Math.min(this.spec.concurrency ?? 1, 64));
    for (let i = 0; i < n; i++) this.loops.push(this.loop());
  }

  private async loop(): Promise<void> {
    const interval = this.spec.intervalMs ?? 250;
    while (this.running) {
      const started = this.now();
      let ok = false;
      try {
        const res = await fetch(this.spec.url, { signal: AbortSignal.timeout(this.spec.timeoutMs ?? 2_000) });
        await res.arrayBuffer();
        ok = res.status >= 200 && res.status < 300;
      } catch {
        ok = false;
      }
      const ms = this.now() - started;
      this.latencies.push(ms);
      if (!ok) this.errors++;
      if (this.running) await new Promise((r) => setTimeout(r, Math.max(0, interval - ms)));
    }
  }

  stats(): ProbeStats {
    const requests = this.latencies.length;
    return { requests, errors: this.errors, errorRate: requests ? this.errors / requests : 0, p95Ms: percentile(this.latencies, 95) };
  }

  async stop(): Promise<ProbeStats> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
    return this.stats();
  }
}
