/**
 * Redaction runs before anything is written or posted: audit events, run params and
 * outputs in the store, logs and Slack messages.
 */
export const REDACTED = "[redacted]";

const SECRET_KEY = /(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|authorization|credential|cookie|session[_-]?id|dsn)$/i;

const PATTERNS: [RegExp, string | ((m: string, ...g: string[]) => string)][] = [
  // user:password@ in any URL or connection string
  [/\b([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*):([^@/\s]+)@/gi, (_m, pre: string) => `${pre}:${REDACTED}@`],
  // libpq keyword form (password=...), query strings and `key=value` arguments (access_token=..., token=...)
  [/\b([a-z_-]*(?:password|passwd|secret|token|api[_-]?key))\s*=\s*('[^']*'|[^\s&]+)/gi, (_m, k: string) => `${k}=${REDACTED}`],
  // Slack tokens
  [/\bxox[abposr]-[A-Za-z0-9-]{8,}/g, REDACTED],
  [/\bxapp-[A-Za-z0-9-]{8,}/g, REDACTED],
  // Bearer / Basic credentials
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, (_m, k: string) => `${k} ${REDACTED}`],
  // AWS access key ids, GitHub tokens, PEM private keys
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, REDACTED],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, REDACTED],
];

/** A key whose value is a secret whatever it holds (`password`, `token`, `dsn`, ...). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function redactText(text: string): string {
  let out = text;
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep as never);
  return out;
}

/**
 * A deep copy with secrets replaced: values under secret-looking keys, keys listed in
 * `secretKeys` (params marked secret), and secret-looking substrings of every string.
 */
export function redact<T>(value: T, secretKeys: ReadonlySet<string> = new Set()): T {
  const walk = (v: unknown, key: string | null, depth: number): unknown => {
    if (depth > 32) return "[too deep]";
    if (key !== null && (secretKeys.has(key) || SECRET_KEY.test(key)) && v !== null && v !== undefined && v !== "") {
      return REDACTED;
    }
    if (typeof v === "string") return redactText(v);
    if (v === null || typeof v !== "object") return v;
    if (v instanceof Date) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, null, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x, k, depth + 1);
    return out;
  };
  return walk(value, null, 0) as T;
}
