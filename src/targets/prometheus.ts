import { BelayError, describeError } from "../errors.ts";
import type { PromQueryOptions, PromRangeSeries, PromResult, PrometheusTarget } from "./types.ts";

/**
 * A Prometheus server, read-only, over its HTTP API (`/api/v1/query`, `/api/v1/query_range`).
 * Every error names the cause: the server's own message for a bad expression, the HTTP
 * status, or the network error (`connect ECONNREFUSED 127.0.0.1:9090`).
 */
export function createPrometheusTarget(name: string, url: string, deps: { fetch?: typeof fetch } = {}): PrometheusTarget {
  const doFetch = deps.fetch ?? fetch;
  const base = url.replace(/\/+$/, "");
  const where = redactUrl(base);

  async function call(path: string, params: Record<string, string>, opts: PromQueryOptions | undefined): Promise<{ resultType: string; result: unknown }> {
    const timeoutMs = opts?.timeoutMs ?? 10_000;
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts?.signal ? [opts.signal] : [])];
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({ ...params, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` }).toString(),
        signal: AbortSignal.any(signals),
      });
    } catch (err) {
      if (opts?.signal?.aborted) throw new BelayError("target.failed", `prometheus ${name}: query aborted (${describeError(opts.signal.reason)})`);
      const e = err as Error & { cause?: unknown };
      const cause = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : causeOf(e);
      throw new BelayError("target.failed", `prometheus ${name} (${where}): ${cause}`);
    }
    const text = await res.text();
    let body: { status?: string; data?: { resultType: string; result: unknown }; error?: string; errorType?: string } | null = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: reported below with the status */
    }
    if (!res.ok || body?.status !== "success" || !body.data) {
      const why = body?.error ? `${body.errorType ?? "error"}: ${body.error}` : `HTTP ${res.status} ${text.slice(0, 200)}`;
      throw new BelayError(res.status === 400 || res.status === 422 ? "input.invalid" : "target.failed", `prometheus ${name}: ${why} (query ${params.query})`);
    }
    return body.data;
  }

  return {
    name,
    async query(expr, opts) {
      const data = await call("/api/v1/query", { query: expr, ...(opts?.time ? { time: seconds(opts.time) } : {}) }, opts);
      return toResult(data);
    },
    async queryRange(expr, start, end, step, opts) {
      const data = await call("/api/v1/query_range", { query: expr, start: seconds(start), end: seconds(end), step: String(step) }, opts);
      const series = (data.result as { metric: Record<string, string>; values: [number, string][] }[]) ?? [];
      return series.map<PromRangeSeries>((s) => ({ labels: s.metric, values: s.values.map(([t, v]) => ({ at: new Date(t * 1000).toISOString(), value: sampleValue(v) })) }));
    },
  };
}

/** fetch says "fetch failed"; the reason is in its cause (`connect ECONNREFUSED 127.0.0.1:9090`). */
function causeOf(err: Error & { cause?: unknown }): string {
  const c = err.cause as (Error & { errors?: Error[] }) | undefined;
  if (!c) return describeError(err);
  if (c.message) return c.message;
  if (c.errors?.length) return c.errors.map((e) => e.message).join("; ");
  return describeError(err);
}

/** Prometheus writes infinities as "+Inf" / "-Inf", which Number() reads as NaN. */
function sampleValue(v: string): number {
  if (v === "+Inf" || v === "Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  return Number(v);
}

function seconds(d: Date | string): string {
  const t = typeof d === "string" ? new Date(d) : d;
  if (Number.isNaN(t.getTime())) throw new BelayError("input.invalid", `not a time: ${String(d)}`);
  return String(t.getTime() / 1000);
}

function toResult(data: { resultType: string; result: unknown }): PromResult {
  switch (data.resultType) {
    case "vector":
      return {
        type: "vector",
        series: (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({ labels: s.metric, at: new Date(s.value[0] * 1000).toISOString(), value: sampleValue(s.value[1]) })),
      };
    case "scalar": {
      const [t, v] = data.result as [number, string];
      return { type: "scalar", series: [{ labels: {}, at: new Date(t * 1000).toISOString(), value: sampleValue(v) }] };
    }
    default:
      throw new BelayError("input.invalid", `prometheus answered a ${data.resultType}; query() reads vectors and scalars (use queryRange for a matrix)`);
  }
}

function redactUrl(u: string): string {
  try {
    const p = new URL(u);
    if (p.password) p.password = "***";
    return p.toString().replace(/\/$/, "");
  } catch {
    return u;
  }
}
