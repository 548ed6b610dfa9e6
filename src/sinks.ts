import { isSecretKey, redactText, REDACTED } from "./audit/redact.ts";

/**
 * The sink layer: everything that leaves belay for a person or another system goes through
 * one of these on its way out. Steps get their real inputs; what they return, throw or say is
 * redacted here, at the edge (Slack bodies, PagerDuty requests, log lines, CLI output, HTTP
 * error answers). The patterns (credentials in URLs, `password=`, bearer and Slack tokens,
 * private keys, ...) and the secret-looking keys are those of audit/redact.ts.
 */

/**
 * A request body for another system: every string redacted, every key kept (Block Kit and
 * PagerDuty shapes stay valid). `keep` names fields passed through untouched (the API's own
 * auth field, e.g. Slack's `token` option).
 *
 * @example
 * web.chat.postMessage(redactOutgoing({ channel, text }))
 */
export function redactOutgoing<T>(value: T, keep: ReadonlySet<string> = NO_KEYS): T {
  const walk = (v: unknown, key: string | null, depth: number): unknown => {
    if (key !== null && keep.has(key)) return v;
    if (typeof v === "string") return redactText(v);
    if (v === null || typeof v !== "object" || depth > 64) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, null, depth + 1));
    if (v instanceof Date || Buffer.isBuffer(v) || isStream(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x, k, depth + 1);
    return out;
  };
  return walk(value, null, 0) as T;
}

const NO_KEYS: ReadonlySet<string> = new Set();

function isStream(v: object): boolean {
  return typeof (v as { pipe?: unknown }).pipe === "function";
}

/** An Error as a plain object with its message, stack and cause redacted. */
export function redactError(err: Error, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: redactText(err.message) };
  if (err.stack) out.stack = redactText(err.stack);
  for (const [k, v] of Object.entries(err)) out[k] = redactLogValue(v, k, depth + 1);
  if (err.cause !== undefined) out.cause = err.cause instanceof Error && depth < 5 ? redactError(err.cause, depth + 1) : redactLogValue(err.cause, "cause", depth + 1);
  return out;
}

/** A value for a log line: secret-looking keys censored, strings redacted, errors flattened and redacted. */
export function redactLogValue(v: unknown, key: string | null = null, depth = 0): unknown {
  if (key !== null && isSecretKey(key) && v !== null && v !== undefined && v !== "" && typeof v !== "object") return REDACTED;
  if (v instanceof Error) return redactError(v, depth);
  if (typeof v === "string") return redactText(v);
  if (v === null || typeof v !== "object") return v;
  if (depth > 16) return "[too deep]";
  if (Array.isArray(v)) return v.map((x) => redactLogValue(x, null, depth + 1));
  if (v instanceof Date || Buffer.isBuffer(v) || isStream(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = redactLogValue(x, k, depth + 1);
  return out;
}

export { REDACTED, redactText };
