import { isBelayError, describeError } from "../errors.ts";
import type { ReadOnlyTargets } from "../targets/facade.ts";

export interface AlertExpressionNow {
  /** True: the expression still returns series (the alert keeps firing); false: it no longer holds; null: not read. */
  readonly holds: boolean | null;
  /** One line for a verify's detail or a message; empty when there was no expression to read. */
  readonly detail: string;
}

/**
 * What the alert's own expression (`params.expr`, filled from the alert's generatorURL)
 * says now, read from the only configured Prometheus target. Never throws: without an
 * expression or a Prometheus it says so, so a verify can always show it.
 *
 * @example
 * verify: async ({ params, targets, signal }) => {
 *   const alert = await alertExpressionNow(targets, params.expr, signal);
 *   return { ok: ..., detail: `policy ${m.policy}; ${alert.detail}` };
 * }
 */
export async function alertExpressionNow(targets: Pick<ReadOnlyTargets, "prometheus">, expr: string | undefined, signal?: AbortSignal): Promise<AlertExpressionNow> {
  if (!expr) return { holds: null, detail: "" };
  try {
    const r = await targets.prometheus().query(expr, signal ? { signal } : {});
    if (r.series.length === 0) return { holds: false, detail: `the alert's expression no longer holds (${expr})` };
    const values = r.series
      .slice(0, 3)
      .map((s) => `${formatValue(s.value)}${s.labels.instance ? ` on ${s.labels.instance}` : ""}`)
      .join(", ");
    return { holds: true, detail: `the alert's expression still holds: ${values}${r.series.length > 3 ? ` and ${r.series.length - 3} more` : ""}, so the alert keeps firing (${expr})` };
  } catch (err) {
    if (isBelayError(err, "config.invalid")) return { holds: null, detail: `the alert's expression was not read: ${describeError(err)}` };
    return { holds: null, detail: `the alert's expression could not be read: ${describeError(err)}` };
  }
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}
