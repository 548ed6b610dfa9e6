import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../server/http.ts";

/** A webhook refused before it was stored: the status and the reason sent back. */
export interface Refusal {
  /** 503: the route is not configured (the sender should retry once it is). */
  status: 400 | 401 | 413 | 415 | 503;
  error: string;
}

export type BodyResult = { ok: true; body: Buffer } | { ok: false; refusal: Refusal };

/**
 * Reads the raw body (signatures cover the exact bytes), refusing more than `limit` bytes
 * without buffering them: a declared Content-Length over the limit is refused at once.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const tooLarge: BodyResult = { ok: false, refusal: { status: 413, error: `body over ${limit} bytes` } };
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve(tooLarge);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult) => {
      if (done) return;
      done = true;
      req.off("data", onData);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish(tooLarge);
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => finish({ ok: true, body: Buffer.concat(chunks, size) }));
    req.on("error", () => finish({ ok: false, refusal: { status: 400, error: "the request body could not be read" } }));
    req.on("aborted", () => finish({ ok: false, refusal: { status: 400, error: "the request was aborted" } }));
  });
}

/** True for `application/json`, with or without parameters. */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const type = header.split(";")[0]!.trim().toLowerCase();
  return type === "application/json";
}

/**
 * Parses JSON after refusing nesting deeper than `maxDepth`, so a hostile body cannot make
 * JSON.parse (or anything walking its result) recurse without bound.
 */
export function parseJson(body: Buffer, maxDepth = 64): { ok: true; value: unknown } | { ok: false; refusal: Refusal } {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return { ok: false, refusal: { status: 400, error: `JSON nested deeper than ${maxDepth} levels` } };
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  try {
    return { ok: true, value: JSON.parse(body.toString("utf8")) };
  } catch (err) {
    return { ok: false, refusal: { status: 400, error: `invalid JSON: ${(err as Error).message.slice(0, 200)}` } };
  }
}

/**
 * Answers a refusal. When the body was not read to its end, the connection is closed after
 * the answer, and what the client still sends is discarded up to a bound.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, refusal: Refusal, headers: Record<string, string> = {}): void {
  const unread = !req.complete;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (unread) res.setHeader("connection", "close");
  sendJson(res, refusal.status, { error: refusal.error });
  if (unread) {
    let discarded = 0;
    req.on("data", (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > 16 * 1024 * 1024) req.destroy();
    });
    req.on("error", () => {});
    req.resume();
  }
}
