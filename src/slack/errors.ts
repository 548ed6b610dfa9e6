/** How a failed Web API call should be treated: wait as told, retry with backoff, or give up. */
export interface SlackErrorKind {
  code: string;
  /** Set for a 429 (from its Retry-After). */
  retryAfterMs: number | null;
  /** A 5xx, a network error, a timeout: worth another try. */
  transient: boolean;
}

const TRANSIENT_PLATFORM_ERRORS = new Set(["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"]);

/** Branches on @slack/web-api's error codes, never on message text. */
export function classifySlackError(err: unknown): SlackErrorKind {
  const e = err as { code?: string; retryAfter?: number; statusCode?: number; data?: { error?: string } };
  switch (e?.code) {
    case "slack_webapi_rate_limited_error":
      return { code: e.code, retryAfterMs: Math.max(1, e.retryAfter ?? 1) * 1000, transient: true };
    case "slack_webapi_http_error":
      return { code: `http_${e.statusCode}`, retryAfterMs: null, transient: (e.statusCode ?? 500) >= 500 || e.statusCode === 408 };
    case "slack_webapi_request_error":
      return { code: e.code, retryAfterMs: null, transient: true };
    case "slack_webapi_platform_error": {
      const code = e.data?.error ?? "unknown";
      return { code, retryAfterMs: code === "ratelimited" ? 1000 : null, transient: TRANSIENT_PLATFORM_ERRORS.has(code) };
    }
    default:
      return { code: e?.code ?? "unknown", retryAfterMs: null, transient: true };
  }
}
