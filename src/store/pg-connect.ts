import { connect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { userInfo } from "node:os";
import { BelayError } from "../errors.ts";

/**
 * Connecting to DATABASE_URL: a short handshake probe first, and one-line errors for what a
 * person gets wrong (no server, not Postgres, a database or role that does not exist).
 * Nothing here prints the URL itself: it may hold a password.
 */

/** How long the probe waits for a server to answer like Postgres. */
export const PROBE_TIMEOUT_MS = 5_000;

export interface PgEndpoint {
  /** host:port or the socket path, for messages. */
  label: string;
  host: string;
  port: number;
  /** A Unix socket path when the URL names a socket directory. */
  socketPath?: string;
  database: string;
  user: string;
}

/** Where a DATABASE_URL points, without its password; null when it cannot be told (several hosts). */
export function endpointOf(url: string): PgEndpoint | null {
  // `postgres://user@/db?host=/socket/dir` is a valid DSN but not a valid WHATWG URL (credentials, no host).
  const u = parseUrl(url) ?? parseUrl(url.replace(/@\//, "@localhost/"));
  if (!u) return null;
  const hostParam = u.searchParams.get("host");
  // No host at all: pg takes PGHOST or its default, which is not for this module to guess.
  if (!hostParam && (!u.hostname || !parseUrl(url))) return null;
  const host = decodeURIComponent(hostParam ?? u.hostname.replace(/^\[|\]$/g, "")) || "localhost";
  if (host.includes(",")) return null;
  const port = Number(u.searchParams.get("port") ?? (u.port || 5432));
  const user = decodeURIComponent(u.username || u.searchParams.get("user") || loginName());
  const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || user;
  const socketPath = host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined;
  return { label: socketPath ?? `${host.includes(":") ? `[${host}]` : host}:${port}`, host, port, ...(socketPath ? { socketPath } : {}), database, user };
}

/**
 * Asks the server what Postgres answers first: an SSLRequest, to which Postgres replies one
 * byte, S or N (E from a very old one), before any login. Anything else, or nothing within
 * PROBE_TIMEOUT_MS, is not Postgres: pg itself would wait its whole connect timeout on a
 * Redis port and then only say "timeout expired". (Redis reads an inline command up to a
 * newline with strchr, and the NUL bytes of the SSLRequest hide any newline sent after them:
 * a Redis stays silent, so it is told apart by the timeout, not by its answer.)
 * Closing right after an N leaves no complaint in Postgres's log; after an S the TLS
 * handshake is finished first, since a connection dropped in the middle of it is logged
 * ("could not accept SSL connection: EOF detected") on every start.
 */
export async function probePostgres(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  const at = endpointOf(url);
  if (!at) return; // several hosts or an odd URL: pg's own errors (mapped below) have to do
  const answer = await new Promise<{ data: Buffer } | { err: NodeJS.ErrnoException } | { timeout: true } | { closed: true } | { unreachable: true }>((done) => {
    const socket: Socket = at.socketPath ? connect(at.socketPath) : connect(at.port, at.host);
    let data = Buffer.alloc(0);
    let connected = false;
    let finished = false;
    const finish = (r: Parameters<typeof done>[0]) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if ("data" in r && r.data.length === 1 && r.data[0] === 0x53 /* S */) closeAfterTls(socket, at.host);
      else socket.destroy();
      done(r);
    };
    const timer = setTimeout(() => finish(data.length ? { data } : connected ? { timeout: true } : { unreachable: true }), timeoutMs);
    socket.once("connect", () => {
      connected = true;
      const ssl = Buffer.alloc(8);
      ssl.writeInt32BE(8, 0);
      ssl.writeInt32BE(80877103, 4);
      socket.write(ssl);
    });
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      // One byte is Postgres's whole answer; a longer one is something else speaking.
      if (data.length === 1 && "SNE".includes(String.fromCharCode(data[0]!))) setTimeout(() => finish({ data }), 20);
      else finish({ data });
    });
    socket.once("error", (err) => finish({ err }));
    socket.once("close", () => finish(data.length ? { data } : { closed: true }));
  });
  if ("data" in answer && isPostgresAnswer(answer.data)) return;
  if ("unreachable" in answer) {
    throw new BelayError("store.unavailable", `cannot reach Postgres at ${at.label}: no TCP connection within ${Math.round(timeoutMs / 1000)} s; is the host in DATABASE_URL right, and does a firewall let this machine in?`, {
      retryable: true,
      details: { endpoint: at.label },
    });
  }
  if ("err" in answer) {
    const mapped = describePgConnectError(answer.err, url);
    throw mapped ?? answer.err;
  }
  const what =
    "timeout" in answer
      ? `did not answer like Postgres within ${Math.round(timeoutMs / 1000)} s`
      : "closed" in answer
        ? "closed the connection without answering like Postgres"
        : `answered, but not like Postgres (${speakerOf(answer.data)})`;
  throw new BelayError("store.unavailable", `DATABASE_URL is not valid: the server at ${at.label} ${what}; is that port a Postgres? Fix the host/port in DATABASE_URL (or unset it to use the embedded store)`, {
    details: { endpoint: at.label },
  });
}

function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** pg's default user when the URL names none: the OS login. */
function loginName(): string {
  try {
    return userInfo().username;
  } catch {
    return "postgres";
  }
}

/** S or N; or an ErrorResponse (E, int32 length, fields) from a server too old for SSLRequest. */
function isPostgresAnswer(data: Buffer): boolean {
  if (data.length === 1) return data[0] === 0x53 || data[0] === 0x4e;
  return data[0] === 0x45 && data.length >= 5 && data.readInt32BE(1) >= 4 && /\bS(FATAL|ERROR)\0/.test(data.toString("latin1"));
}

/** A clean TLS close: the handshake, then end. Its result does not matter: the server already said it is Postgres. */
function closeAfterTls(socket: Socket, host: string): void {
  socket.removeAllListeners("data");
  const tls = tlsConnect({ socket, rejectUnauthorized: false, ...(isIP(host) || host.startsWith("/") ? {} : { servername: host }) });
  const stop = setTimeout(() => tls.destroy(), 2_000);
  stop.unref();
  tls.once("secureConnect", () => tls.end());
  tls.once("error", () => tls.destroy());
  tls.once("close", () => clearTimeout(stop));
}

function speakerOf(data: Buffer): string {
  const text = data.subarray(0, 64).toString("latin1");
  if (text.startsWith("HTTP/")) return "an HTTP server";
  if (/^[-+]/.test(text)) return "it sounds like Redis";
  if (text.startsWith("SSH-")) return "an SSH server";
  const printable = text.replace(/[^\x20-\x7e]/g, "?").trim().slice(0, 40);
  return printable ? `it said "${printable}"` : `${data.length} bytes of something else`;
}

/** A one-line error for what failed while connecting, or null when it is not a set-up mistake. */
export function describePgConnectError(err: unknown, url: string): BelayError | null {
  const e = err as { code?: string; message?: string };
  const at = endpointOf(url);
  const where = at?.label ?? "the host in DATABASE_URL";
  const make = (message: string, retryable: boolean) => new BelayError("store.unavailable", message, { retryable, cause: err });
  switch (e.code) {
    case "ECONNREFUSED":
      return make(`cannot reach Postgres at ${where} (ECONNREFUSED: nothing listens there); is it running, and are the host and port in DATABASE_URL right?`, true);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return make(`cannot reach Postgres at ${where} (${e.code}: the host name does not resolve); fix the host in DATABASE_URL`, true);
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return make(`cannot reach Postgres at ${where} (${e.code}); is it running, and does a firewall let this machine in?`, true);
    case "ENOENT":
      return make(`cannot reach Postgres at ${where} (no socket there); is it running, and is the socket directory in DATABASE_URL right?`, true);
    case "57P03":
      return make(`Postgres at ${where} is starting up or shutting down (57P03); try again in a moment`, true);
    case "3D000":
      return make(`DATABASE_URL names database "${at?.database ?? "?"}", which does not exist on ${where}; create it (createdb ${at?.database ?? "NAME"}) or fix the database name in DATABASE_URL`, false);
    case "28000":
      // "role ... does not exist", or no pg_hba.conf entry lets this user in.
      return make(`Postgres at ${where} refused user "${at?.user ?? "?"}": ${e.message ?? "not allowed"}; fix the user in DATABASE_URL, or create the role (CREATE ROLE ... LOGIN) and allow it in pg_hba.conf`, false);
    case "28P01":
      return make(`Postgres at ${where} refused the password for user "${at?.user ?? "?"}"; fix the password in DATABASE_URL`, false);
    default:
      if (e.message === "timeout expired" || e.message === "Connection terminated due to connection timeout") {
        return make(`Postgres at ${where} did not accept a connection in time; is it overloaded or behind a firewall?`, true);
      }
      return null;
  }
}
