import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { BelayError } from "../errors.ts";
import type { Logger } from "../execute/deps.ts";
import type { Metrics } from "./metrics.ts";
import { redactOutgoing } from "../sinks.ts";

/** A route owns its request from here: it reads the body (or hands the raw request to Bolt) and answers. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface Route {
  method: "GET" | "POST";
  /** An exact path; with `prefix`, the path and everything under it (`/console` serves `/console` and `/console/...`). */
  path: string;
  handler: Handler;
  /** Match `path` and every path below it. Exact routes win over prefixes; the longest prefix wins. */
  prefix?: boolean;
}

/** The prefix route (longest first) that owns `path`, for `method`; or, for a 405, any prefix owning it. */
function matchPrefix(prefixes: readonly Route[], path: string, method?: string): Route | undefined {
  return prefixes.find((r) => (method === undefined || r.method === method) && (path === r.path || path.startsWith(r.path.endsWith("/") ? r.path : `${r.path}/`)));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  // Error answers are shown to people (and may quote what failed): they leave through the sink.
  const text = JSON.stringify(status >= 400 ? redactOutgoing(body) : body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * One port for everything: health, readiness, metrics, webhooks, Slack. Transport only:
 * routes call the pipeline and never hold business logic.
 */
export function createHttpServer(deps: {
  routes: readonly Route[];
  metrics: Metrics;
  logger: Logger;
  /** Readiness: the store answers. Liveness (/healthz) only says the process serves HTTP. */
  ready: () => Promise<{ ok: boolean; detail: string }>;
  /** True once a shutdown began: /readyz answers 503 "draining" without asking the store. */
  draining?: () => boolean;
}): Server {
  const table = new Map<string, Route>();
  const prefixes: Route[] = [];
  for (const r of [
    { method: "GET" as const, path: "/healthz", handler: (_q: IncomingMessage, s: ServerResponse) => sendJson(s, 200, { ok: true }) },
    {
      method: "GET" as const,
      path: "/readyz",
      handler: async (_q: IncomingMessage, s: ServerResponse) => {
        if (deps.draining?.()) return sendJson(s, 503, { ok: false, detail: "draining: this belay is shutting down; another replica takes its work" });
        const r = await deps.ready().catch((err: Error) => ({ ok: false, detail: err.message }));
        sendJson(s, r.ok ? 200 : 503, r);
      },
    },
    {
      method: "GET" as const,
      path: "/metrics",
      handler: async (_q: IncomingMessage, s: ServerResponse) => sendText(s, 200, await deps.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"),
    },
    ...deps.routes,
  ] as Route[]) {
    if (r.prefix) prefixes.push(r);
    else table.set(`${r.method} ${r.path}`, r);
  }
  prefixes.sort((a, b) => b.path.length - a.path.length);
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const route = table.get(`${req.method} ${path}`) ?? matchPrefix(prefixes, path, req.method);
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.observe("belay_http_request_duration_seconds", "HTTP request latency by route and status.", { route: route ? (route.prefix ? `${route.path.replace(/\/$/, "")}/*` : route.path) : "unmatched", status: String(res.statusCode) }, seconds);
    });
    if (!route) {
      const exact = [...table.values()].filter((r) => r.path === path).map((r) => r.method);
      const owner = exact.length ? undefined : matchPrefix(prefixes, path);
      const allowed = owner ? prefixes.filter((r) => r.path === owner.path).map((r) => r.method) : exact;
      if (allowed.length > 0) {
        res.setHeader("allow", allowed.join(", "));
        return sendJson(res, 405, { error: `${req.method} is not allowed on ${path}; use ${allowed.join(" or ")}` });
      }
      return sendJson(res, 404, { error: `no route ${path}` });
    }
    Promise.resolve()
      .then(() => route.handler(req, res))
      .catch((err) => {
        deps.logger.error({ err, path }, "request failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal error; see belay's log" });
        else res.destroy();
      });
  });
}

/**
 * Listens, or fails with one line a person can act on: the port in use, a port below 1024
 * without the right, a host that is not one of this machine's addresses.
 */
export function listen(server: Server, port: number, host?: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(err, port, host));
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Tries the port (and host) before anything slow starts, then lets go of it: `belay serve`
 * calls it first, so a port in use is said at once, not after the store has opened.
 * The real listen still checks again (another process may take the port in between).
 */
export async function checkListen(port: number, host?: string): Promise<void> {
  // Port 0 is tried too: any free port on that host says whether the host is one of ours.
  const probe = createNetServer();
  await listen(probe as unknown as Server, port, host);
  await new Promise<void>((r) => probe.close(() => r()));
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string | undefined): Error {
  const where = host ? `${host}:${port}` : `port ${port}`;
  const why: Record<string, string> = {
    EADDRINUSE: `cannot listen on ${where}: the port is in use by another process; stop it (ss -ltnp | grep :${port} shows which) or pick another port with PORT or --port`,
    EACCES: `cannot listen on ${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); use a port of 1024 or more with PORT or --port`,
    EADDRNOTAVAIL: `cannot listen on ${where}: ${host} is not an address of this machine; use --host with one of its addresses (127.0.0.1, 0.0.0.0 for all)`,
    ENOTFOUND: `cannot listen on ${where}: the host name ${host} does not resolve; use --host with an address of this machine (127.0.0.1, 0.0.0.0 for all)`,
    EAI_AGAIN: `cannot listen on ${where}: the host name ${host} could not be resolved just now (DNS); use --host with an IP address of this machine`,
  };
  const message = err.code ? why[err.code] : undefined;
  return message ? new BelayError("config.invalid", message, { cause: err }) : err;
}
