import { isSecretKey, REDACTED } from "../audit/redact.ts";
import type { RedisClient, RedisClientFilter, RedisClientSummary, RedisInfo, RedisSlowlogEntry } from "./types.ts";

/** Pure parsing of Redis replies. RESP2 and RESP3 (ioredis 6's default) shapes both arrive here. */

/** INFO text -> { section: { field: value } }. Section names are lower-cased (`# Memory` -> `memory`). */
export function parseInfo(text: string): RedisInfo {
  const out: Record<string, Record<string, string>> = {};
  let section = "default";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith("#")) {
      section = line.slice(1).trim().toLowerCase();
      out[section] ??= {};
      continue;
    }
    const i = line.indexOf(":");
    if (i < 0) continue;
    (out[section] ??= {})[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export function num(value: string | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

/** CONFIG GET reply: a flat [k, v, ...] array (RESP2, and RESP3 maps as ioredis flattens them) or an object. */
export function parseConfigReply(reply: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), String(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) out.set(String(k), String(v));
  } else if (reply && typeof reply === "object") {
    for (const [k, v] of Object.entries(reply)) out.set(k, String(v));
  }
  return out;
}

/** One CLIENT LIST line per client: `id=7 addr=127.0.0.1:47962 ... cmd=client|list`. */
export function parseClientList(text: string): RedisClient[] {
  const clients: RedisClient[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const f: Record<string, string> = {};
    for (const pair of line.trim().split(" ")) {
      const i = pair.indexOf("=");
      if (i > 0) f[pair.slice(0, i)] = pair.slice(i + 1);
    }
    const addr = f.addr ?? "";
    clients.push({
      id: f.id ?? "",
      addr,
      ip: addr.includes(":") ? addr.slice(0, addr.lastIndexOf(":")) : addr,
      name: f.name ?? "",
      user: f.user ?? "default",
      db: num(f.db),
      ageSec: num(f.age),
      idleSec: num(f.idle),
      cmd: f.cmd ?? "",
      flags: f.flags ?? "",
    });
  }
  return clients;
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

function idleBucket(sec: number): string {
  if (sec < 60) return "<1m";
  if (sec < 600) return "1m-10m";
  if (sec < 3600) return "10m-1h";
  return ">1h";
}

export function summariseClients(clients: readonly RedisClient[]): RedisClientSummary {
  const byIp = [...countBy(clients, (c) => c.ip)].map(([ip, cs]) => ({ ip, count: cs.length, maxIdleSec: Math.max(...cs.map((c) => c.idleSec)) }));
  const byCmd = [...countBy(clients, (c) => c.cmd)].map(([cmd, cs]) => ({ cmd, count: cs.length }));
  const byName = [...countBy(clients, (c) => c.name)].map(([name, cs]) => ({ name, count: cs.length }));
  const idle: Record<string, number> = { "<1m": 0, "1m-10m": 0, "10m-1h": 0, ">1h": 0 };
  for (const c of clients) idle[idleBucket(c.idleSec)]! += 1;
  const desc = (a: { count: number }, b: { count: number }) => b.count - a.count;
  return {
    total: clients.length,
    byIp: byIp.sort(desc),
    byCmd: byCmd.sort(desc),
    byName: byName.sort(desc),
    idle,
    clients: [...clients].sort((a, b) => b.idleSec - a.idleSec).slice(0, 50),
  };
}

/** Does a client fit the filter? An empty filter is refused by the caller, never treated as "all". */
export function clientMatches(c: RedisClient, f: RedisClientFilter): boolean {
  if (f.ids !== undefined && !f.ids.includes(c.id)) return false;
  if (f.idleAtLeastSec !== undefined && c.idleSec < f.idleAtLeastSec) return false;
  if (f.ip !== undefined && c.ip !== f.ip) return false;
  if (f.addr !== undefined && c.addr !== f.addr) return false;
  if (f.user !== undefined && c.user !== f.user) return false;
  if (f.name !== undefined && c.name !== f.name) return false;
  if (f.cmd !== undefined && c.cmd !== f.cmd) return false;
  return true;
}

export function hasClientCriteria(f: RedisClientFilter): boolean {
  return [f.ids, f.idleAtLeastSec, f.ip, f.addr, f.user, f.name, f.cmd].some((v) => v !== undefined);
}

/**
 * A command's arguments with its passwords replaced: AUTH, HELLO ... AUTH, MIGRATE ... AUTH /
 * AUTH2, CONFIG SET of a secret parameter, ACL SETUSER's >password and #hash rules. Redis 6.2
 * and later already log these as "(redacted)"; older servers log them as sent.
 */
export function redactArgv(argv: readonly string[]): string[] {
  const out = [...argv];
  const cmd = (out[0] ?? "").toUpperCase();
  const hide = (from: number, n: number) => {
    for (let i = from; i < Math.min(out.length, from + n); i++) out[i] = REDACTED;
  };
  if (cmd === "AUTH") hide(1, out.length);
  if (cmd === "HELLO" || cmd === "MIGRATE") {
    for (let i = 1; i < out.length; i++) {
      const word = out[i]!.toUpperCase();
      if (word === "AUTH") hide(i + 1, cmd === "HELLO" ? 2 : 1);
      if (word === "AUTH2") hide(i + 1, 2);
    }
  }
  if (cmd === "CONFIG" && (out[1] ?? "").toUpperCase() === "SET") {
    for (let i = 2; i + 1 < out.length; i += 2) if (isSecretKey(out[i]!)) out[i + 1] = REDACTED;
  }
  if (cmd === "ACL" && (out[1] ?? "").toUpperCase() === "SETUSER") {
    for (let i = 3; i < out.length; i++) if (/^[<>#!]/.test(out[i]!)) out[i] = out[i]![0] + REDACTED;
  }
  return out;
}

/** SLOWLOG GET entries: [id, unixSec, micros, [argv...], clientAddr, clientName]; passwords in arguments are replaced. */
export function parseSlowlog(reply: unknown): RedisSlowlogEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((e: unknown[]) => ({
    id: Number(e[0]),
    at: new Date(Number(e[1]) * 1000).toISOString(),
    durationMicros: Number(e[2]),
    command: redactArgv((Array.isArray(e[3]) ? e[3] : []).map(String)).join(" ").slice(0, 500),
    clientAddr: String(e[4] ?? ""),
    clientName: String(e[5] ?? ""),
  }));
}

const GLOB = /[*?[\\]/;

/** The literal prefix of a glob pattern, before its first wildcard or escape. */
export function literalPrefix(pattern: string): string {
  const m = GLOB.exec(pattern);
  return m ? pattern.slice(0, m.index) : pattern;
}
