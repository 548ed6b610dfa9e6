import type { Context } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { AuditEvent } from "../audit/events.ts";

/** What a page learns of an event: its kind and which run and incident it touched. Never its data. */
export interface LiveMessage {
  kind: string;
  run: string | null;
  incident: string | null;
}

interface Client {
  stream: SSEStreamingApi;
  done: () => void;
}

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const KIND = /^[a-z_]+\.[a-z_]+$/;
const safeId = (v: string | null) => (v !== null && ID.test(v) ? v : null);

/**
 * Server-sent events for the console's pages, fed by the audit stream (Core.subscribe). Each
 * event names its kind and ids only: a page re-fetches what it shows through the same checks
 * as any page load, so nothing leaves here that the page could not read anyway.
 */
export class LiveHub {
  private readonly clients = new Set<Client>();
  private closed = false;

  constructor(private readonly opts: { heartbeatMs?: number; now?: () => number } = {}) {}

  get size(): number {
    return this.clients.size;
  }

  publish(events: readonly AuditEvent[]): void {
    if (this.clients.size === 0 || events.length === 0) return;
    const seen = new Set<string>();
    const messages: LiveMessage[] = [];
    for (const e of events) {
      const m = { kind: KIND.test(e.kind) ? e.kind : "event.other", run: safeId(e.runId), incident: safeId(e.incidentId) };
      const key = `${m.kind} ${m.run} ${m.incident}`;
      if (!seen.has(key)) messages.push(m), seen.add(key);
    }
    for (const c of this.clients) {
      for (const m of messages) c.stream.writeSSE({ event: "audit", data: JSON.stringify(m) }).catch(() => c.done());
    }
  }

  /** The /console/events answer: a hello, then audit messages and a heartbeat until the client leaves or the server stops. */
  respond(c: Context, opts: { until?: number } = {}): Response {
    return streamSSE(c, async (stream) => {
      if (this.closed) return;
      let finish!: () => void;
      const done = new Promise<void>((r) => (finish = r));
      const client: Client = { stream, done: () => finish() };
      this.clients.add(client);
      stream.onAbort(() => finish());
      // A session's stream ends with the session: the page then re-fetches and is asked to sign in again.
      const left = opts.until === undefined ? null : opts.until - (this.opts.now ?? Date.now)();
      const expiry = left === null ? null : setTimeout(() => finish(), Math.max(0, Math.min(left, 2 ** 31 - 1)));
      const beat = setInterval(() => {
        stream.write(": heartbeat\n\n").catch(() => finish());
      }, this.opts.heartbeatMs ?? 15_000);
      try {
        await stream.writeSSE({ event: "hello", data: "{}", retry: 3000 });
        await done;
      } finally {
        clearInterval(beat);
        if (expiry) clearTimeout(expiry);
        this.clients.delete(client);
      }
    });
  }

  /** The server is stopping: every stream ends (the browser reconnects to whichever belay serves next). */
  close(): void {
    this.closed = true;
    for (const c of this.clients) c.done();
  }
}
