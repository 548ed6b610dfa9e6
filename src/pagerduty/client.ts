import { api } from "@pagerduty/pdjs";
import { redactOutgoing } from "../sinks.ts";

/* pdjs' overloads type a call without `endpoint` as a partial application; with `url` it is a request. */
type Request = (params: Record<string, unknown>) => Promise<Response & { data: unknown }>;
const request = api as unknown as Request;

/** The outcome of one PagerDuty REST call. pdjs resolves on any status, so this is checked, never assumed. */
export type PagerDutyResult =
  | { ok: true; status: number; data: unknown }
  | { ok: false; status: number | null; retryable: boolean; message: string };

/** The calls belay makes: incident notes, acknowledge, resolve. */
export interface PagerDutyClient {
  addNote(incidentId: string, content: string): Promise<PagerDutyResult>;
  acknowledge(incidentId: string): Promise<PagerDutyResult>;
  resolve(incidentId: string): Promise<PagerDutyResult>;
}

export interface PagerDutyClientOptions {
  token: string;
  /** A PagerDuty user's email: the REST API wants it in `From` on incident writes. */
  from: string;
  /** PAGERDUTY_API_URL (https://api.pagerduty.com, or the EU host, or a stub in tests). */
  apiUrl: string;
  /** Per call (default 10 s). */
  timeoutMs?: number;
  /** pdjs waits this long before retrying a 429 (its default is 20 s; it retries up to 3 times). */
  retryAfterMs?: number;
}

/**
 * PagerDuty's REST API through `@pagerduty/pdjs`. The full URL is passed (pdjs' `server`
 * option assumes https), pdjs' own timer is off (it only delays exit, it never aborts), and
 * an AbortSignal bounds each call instead.
 *
 * @example
 * const pd = createPagerDutyClient({ token, from: "belay@example.com", apiUrl: "https://api.pagerduty.com" });
 * const r = await pd.addNote("PT4KHLK", "belay: failure mode pod-crashloop ...");
 * if (!r.ok) logger.warn({ status: r.status }, r.message);
 */
export function createPagerDutyClient(opts: PagerDutyClientOptions): PagerDutyClient {
  const base = opts.apiUrl.replace(/\/+$/, "");
  async function call(method: "POST" | "PUT", path: string, data: object): Promise<PagerDutyResult> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 10_000);
    try {
      const r = await request({
        token: opts.token,
        url: `${base}${path}`,
        method,
        // A sink: note content (triage findings, step errors) is redacted before it leaves.
        data: redactOutgoing(data),
        headers: { From: opts.from },
        requestTimeout: 0,
        retryTimeout: opts.retryAfterMs ?? 20_000,
        signal: controller.signal,
      });
      if (r.ok) return { ok: true, status: r.status, data: r.data };
      return { ok: false, status: r.status, retryable: r.status === 429 || r.status >= 500, message: `PagerDuty answered ${r.status}: ${errorText(r.data)}` };
    } catch (err) {
      // pdjs rejects with the Response itself when the body is not JSON.
      if (err && typeof err === "object" && "status" in err && typeof (err as { status: unknown }).status === "number") {
        const status = (err as { status: number }).status;
        if (status >= 200 && status < 300) return { ok: true, status, data: null };
        return { ok: false, status, retryable: status === 429 || status >= 500, message: `PagerDuty answered ${status} (not JSON)` };
      }
      const aborted = controller.signal.aborted;
      return { ok: false, status: null, retryable: true, message: aborted ? `PagerDuty did not answer within ${opts.timeoutMs ?? 10_000} ms` : `PagerDuty unreachable: ${(err as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  }
  const id = (incidentId: string) => encodeURIComponent(incidentId);
  return {
    addNote: (incidentId, content) => call("POST", `/incidents/${id(incidentId)}/notes`, { note: { content: content.slice(0, 25_000) } }),
    acknowledge: (incidentId) => call("PUT", `/incidents/${id(incidentId)}`, { incident: { type: "incident_reference", status: "acknowledged" } }),
    resolve: (incidentId) => call("PUT", `/incidents/${id(incidentId)}`, { incident: { type: "incident_reference", status: "resolved" } }),
  };
}

function errorText(data: unknown): string {
  const e = (data as { error?: { message?: string; errors?: string[] } } | null)?.error;
  if (!e) return "no error message";
  return [e.message, ...(e.errors ?? [])].filter(Boolean).join("; ").slice(0, 500);
}
