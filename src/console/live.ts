import type { Context } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { AuditEvent } from "../audit/events.ts";

/** What a page learns of an event: its kind and which run and incident it touched. Never its data. */
export interface LiveMessage {
  kind: string;
  run: string | null;
  incident: string | null;
}

/** What the hub needs of an audit event: its kind and which run and incident it touched. */
export type LiveEvent = Pick<AuditEvent, "kind" | "runId" | "incidentId">;

interface Client {
  stream: SSEStreamingApi;
  done: () => void;
  /** Writes the client has not taken yet (the socket is full): a page that reads keeps this near 0. */
  pending: number;
  /** Ends the stream and its connection at once, without waiting to flush what the client never read. */
  drop: () => void;
}

/** A client this far behind reads nothing: it is dropped (a live page re-fetches when it reconnects). */
const MAX_PENDING_WRITES = 256;

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

  publish(events: readonly LiveEvent[]): void {
    if (this.clients.size === 0 || events.length === 0) return;
    const seen = new Set<string>();
    const messages: LiveMessage[] = [];
    for (const e of events) {
      const m = { kind: KIND.test(e.kind) ? e.kind : "event.other", run: safeId(e.runId), incident: safeId(e.incidentId) };
      const key = `${m.kind} ${m.run} ${m.incident}`;
      if (!seen.has(key)) messages.push(m), seen.add(key);
    }
    for (const c of this.clients) {
      for (const m of messages) {
        if (c.pending >= MAX_PENDING_WRITES) {
          c.drop();
          break;
        }
        this.send(c, () => c.stream.writeSSE({ event: "audit", data: JSON.stringify(m) }));
      }
    }
  }

  /** The /console/events answer: a hello, then audit messages and a heartbeat until the client leaves or the server stops. */
  respond(c: Context, opts: { until?: number } = {}): Response {
    const res = streamSSE(c, async (stream) => {
      if (this.closed) return;
      let finish!: () => void;
      const done = new Promise<void>((r) => (finish = r));
      // Destroying the socket is the only end that does not wait for the client to read what is queued.
      const socket = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming?.socket;
      const client: Client = {
        stream,
        done: () => finish(),
        pending: 0,
        drop: () => {
          finish();
          stream.abort();
          socket?.destroy();
        },
      };
      this.clients.add(client);
      stream.onAbort(() => finish());
      // A session's stream ends with the session: the page then re-fetches and is asked to sign in again.
      const left = opts.until === undefined ? null : opts.until - (this.opts.now ?? Date.now)();
      const expiry = left === null ? null : setTimeout(() => finish(), Math.max(0, Math.min(left, 2 ** 31 - 1)));
      const beat = setInterval(() => {
        if (client.pending >= MAX_PENDING_WRITES) client.drop();
        else this.send(client, () => stream.write(": heartbeat\n\n"));
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
    // The connection is the stream's alone: when the stream ends, so does it (kept alive, it would hold the server's close for its idle timeout).
    res.headers.set("connection", "close");
    return res;
  }

  private send(c: Client, write: () => Promise<unknown>): void {
    c.pending++;
    write().then(
      () => c.pending--,
      () => c.drop(),
    );
  }

  /**
   * The server is stopping: every stream ends (the browser reconnects to whichever belay serves
   * next). A client with writes it has not taken is cut off, or the server's close would wait for it.
   */
  close(): void {
    this.closed = true;
    for (const c of this.clients) (c.pending > 0 ? c.drop : c.done)();
  }
}
