import { Redis } from "ioredis";
import { isSecretKey, REDACTED } from "../audit/redact.ts";
import { BelayError } from "../errors.ts";
import {
  clientMatches,
  hasClientCriteria,
  literalPrefix,
  num,
  parseClientList,
  parseConfigReply,
  parseInfo,
  parseSlowlog,
  summariseClients,
} from "./redis-parse.ts";
import type { MutateOptions, RedisBigKey, RedisClientFilter, RedisKeySpec, RedisTarget, StandingConnection } from "./types.ts";
import { throwIfStepAborted } from "./step-signal.ts";

export interface RedisTargetDeps {
  /** Milliseconds, for time budgets. */
  now?: () => number;
  /** Where the client's connection errors go (ioredis prints an unheard 'error' event to stderr). */
  logger?: { warn(obj: object, msg: string): void };
}

const DEFAULT_KEY_CAP = 1000;
const MAX_KEY_CAP = 10_000;
const MIN_PREFIX = 3;

/**
 * A Redis target over one ioredis connection, opened on first use. ioredis 6 speaks RESP3
 * by default; every reply is normalised in redis-parse.ts so either protocol works.
 */
export function createRedisTarget(name: string, url: string, deps: RedisTargetDeps = {}): RedisTarget & StandingConnection & { close(): Promise<void> } {
  const now = deps.now ?? Date.now;
  let client: Redis | null = null;
  // The last connection error, so a command that gave up says why ("connect ECONNREFUSED ..."),
  // not ioredis' "Reached the max retries per request limit".
  let lastError: Error | null = null;
  const redis = (): Redis => {
    if (!client) {
      // lazyConnect: nothing is dialled until the first command; one retry keeps a dead server from hanging a step.
      const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000, connectionName: "belay" });
      c.on("error", (err: Error) => {
        // ioredis reconnects and emits on every attempt: log when the cause changes, not every retry.
        if (lastError?.message !== err.message) deps.logger?.warn({ err, target: name }, `redis target ${name}: ${err.message}`);
        lastError = err;
      });
      c.on("ready", () => (lastError = null));
      client = c;
    }
    return client;
  };

  async function info(section?: string) {
    const text = section ? await redis().info(section) : await redis().info();
    return parseInfo(String(text));
  }

  async function readConfig(parameter: string): Promise<string | null> {
    const map = parseConfigReply(await redis().config("GET", parameter));
    return map.get(parameter) ?? null;
  }

  /** A secret parameter's value (requirepass, masterauth) is never handed out: it reads as [redacted]. */
  async function configGet(parameter: string): Promise<string | null> {
    const value = await readConfig(parameter);
    return value !== null && isSecretKey(parameter) ? REDACTED : value;
  }

  /** The clients a filter selects, longest idle first; never this connection. */
  async function chooseClients(filter: RedisClientFilter) {
    if (!hasClientCriteria(filter)) throw new BelayError("input.invalid", "CLIENT KILL needs a filter (idle time, address, user, name or command); refusing to kill every client");
    const self = String(await redis().client("ID"));
    const max = filter.max ?? 1000;
    const all = parseClientList(String(await redis().client("LIST")));
    const chosen = all
      .filter((c) => c.id !== self && clientMatches(c, filter))
      .sort((a, b) => b.idleSec - a.idleSec)
      .slice(0, max);
    return { chosen, all };
  }

  async function findKeys(spec: RedisKeySpec): Promise<string[]> {
    if ("keys" in spec) {
      if (spec.keys.length === 0) return [];
      if (spec.keys.length > MAX_KEY_CAP) throw new BelayError("input.invalid", `at most ${MAX_KEY_CAP} exact keys at once (got ${spec.keys.length})`);
      const pipe = redis().pipeline();
      for (const k of spec.keys) pipe.exists(k);
      const res = (await pipe.exec()) ?? [];
      return spec.keys.filter((_, i) => Number(res[i]?.[1]) === 1);
    }
    const max = Math.min(spec.max ?? DEFAULT_KEY_CAP, MAX_KEY_CAP);
    const prefix = literalPrefix(spec.pattern);
    if (prefix.length < MIN_PREFIX) {
      throw new BelayError(
        "input.invalid",
        `pattern ${JSON.stringify(spec.pattern)} is not bounded: it needs at least ${MIN_PREFIX} literal characters before the first wildcard`,
      );
    }
    const found = new Set<string>();
    let cursor = "0";
    do {
      throwIfStepAborted(); // a SCAN of a big keyspace stops when its step is aborted
      const [next, keys] = await redis().scan(cursor, "MATCH", spec.pattern, "COUNT", 500);
      cursor = String(next);
      for (const k of keys) found.add(String(k));
      if (found.size > max) {
        throw new BelayError("input.invalid", `more than ${max} keys match ${JSON.stringify(spec.pattern)}; narrow the pattern or raise max`);
      }
    } while (cursor !== "0");
    return [...found].sort();
  }

  const target: RedisTarget & StandingConnection & { close(): Promise<void> } = {
    name,
    info,

    async memoryInfo() {
      const all = await info();
      const m = all.memory ?? {};
      const stats = all.stats ?? {};
      const used = num(m.used_memory);
      const max = num(m.maxmemory);
      return {
        usedBytes: used,
        peakBytes: num(m.used_memory_peak),
        maxmemoryBytes: max,
        policy: m.maxmemory_policy ?? (await configGet("maxmemory-policy")) ?? "unknown",
        usedRatio: max > 0 ? used / max : null,
        fragmentationRatio: m.mem_fragmentation_ratio === undefined ? null : num(m.mem_fragmentation_ratio),
        evictedKeys: num(stats.evicted_keys),
        rejectedConnections: num(stats.rejected_connections),
      };
    },

    async clientsInfo() {
      const all = await info();
      const maxclients = num(all.clients?.maxclients ?? (await configGet("maxclients")) ?? undefined);
      return {
        connected: num(all.clients?.connected_clients),
        maxclients,
        blocked: num(all.clients?.blocked_clients),
        rejectedConnections: num(all.stats?.rejected_connections),
      };
    },

    configGet,

    async configSet(parameter: string, value: string, opts: MutateOptions = {}) {
      const previous = await configGet(parameter);
      if (previous === null) throw new BelayError("input.invalid", `redis ${name} has no config parameter ${parameter}`);
      // A secret parameter's change shows neither the old value nor the new one.
      const shown = isSecretKey(parameter) ? REDACTED : value;
      const summary = `CONFIG SET ${parameter} ${previous} -> ${shown}`;
      if (!opts.dryRun) {
        throwIfStepAborted(); // the step may have been aborted while the old value was read
        await redis().config("SET", parameter, value);
      }
      return { summary, diff: `${parameter}: ${previous} -> ${shown}`, dryRun: !!opts.dryRun, parameter, previous, value: shown };
    },

    findKeys,

    async deleteKeys(spec: RedisKeySpec, opts: MutateOptions = {}) {
      const keys = await findKeys(spec);
      let deleted = 0;
      if (!opts.dryRun) {
        for (let i = 0; i < keys.length; i += 500) {
          throwIfStepAborted();
          deleted += await redis().del(...keys.slice(i, i + 500));
        }
      }
      const what = "keys" in spec ? "exact keys" : `keys matching ${spec.pattern}`;
      return {
        summary: `DEL ${keys.length} ${what}${keys.length ? "" : " (none exist)"}`,
        diff: keys.map((k) => `- ${k}`).join("\n"),
        dryRun: !!opts.dryRun,
        keys,
        count: keys.length,
        deleted,
      };
    },

    async bigKeys(opts = {}) {
      const budget = opts.budgetMs ?? 5_000;
      const top = opts.top ?? 20;
      const minBytes = opts.minBytes ?? 0;
      const started = now();
      const found: RedisBigKey[] = [];
      let scanned = 0;
      let cursor = "0";
      let complete = false;
      while (now() - started < budget) {
        throwIfStepAborted();
        const args: (string | number)[] = opts.match ? ["MATCH", opts.match, "COUNT", 1000] : ["COUNT", 1000];
        const [next, keys] = await redis().scan(cursor, ...(args as ["COUNT", number]));
        cursor = String(next);
        if (keys.length) {
          const pipe = redis().pipeline();
          for (const k of keys) {
            pipe.memory("USAGE", k);
            pipe.type(k);
          }
          const res = (await pipe.exec()) ?? [];
          keys.forEach((k, i) => {
            const bytes = Number(res[2 * i]?.[1] ?? 0);
            if (bytes >= minBytes) found.push({ key: String(k), type: String(res[2 * i + 1]?.[1] ?? "none"), bytes });
          });
          found.sort((a, b) => b.bytes - a.bytes).splice(top);
        }
        scanned += keys.length;
        if (cursor === "0") {
          complete = true;
          break;
        }
      }
      return { keys: found, scanned, complete };
    },

    async clientList() {
      return summariseClients(parseClientList(String(await redis().client("LIST"))));
    },

    async findClients(filter) {
      return (await chooseClients(filter)).chosen;
    },

    async clientKill(filter, opts: MutateOptions = {}) {
      const { chosen, all } = await chooseClients(filter);
      let killed = 0;
      if (!opts.dryRun) {
        for (const c of chosen) {
          throwIfStepAborted();
          killed += Number(await redis().client("KILL", "ID", c.id));
        }
      }
      return {
        summary: `CLIENT KILL ${chosen.length} of ${all.length} clients`,
        diff: chosen.map((c) => `- id=${c.id} addr=${c.addr} name=${c.name || "-"} idle=${c.idleSec}s age=${c.ageSec}s cmd=${c.cmd}`).join("\n"),
        dryRun: !!opts.dryRun,
        clients: chosen,
        killed,
      };
    },

    async slowlog(count = 20) {
      return parseSlowlog(await redis().slowlog("GET", count));
    },

    // The one connection is kept open anyway (ioredis reconnects); a PING now and then keeps a server `timeout` from closing it while an incident is open.
    async hold() {
      await redis().ping();
    },
    async release() {},

    async close() {
      if (client) {
        const c = client;
        client = null;
        await c.quit().catch(() => c.disconnect());
      }
    },
  };
  for (const [key, fn] of Object.entries(target)) {
    if (typeof fn !== "function" || key === "close") continue;
    (target as unknown as Record<string, unknown>)[key] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        throw withCause(name, err, lastError);
      }
    };
  }
  return target;
}

const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "EPIPE", "EAI_AGAIN"]);

/** A connection failure as a BelayError naming the target and the cause; other errors pass through. */
function withCause(name: string, err: unknown, lastError: Error | null): unknown {
  if (!(err instanceof Error) || err instanceof BelayError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const gaveUp = err.name === "MaxRetriesPerRequestError" || err.message === "Connection is closed.";
  if (!gaveUp && !(code && CONNECTION_ERRORS.has(code))) return err;
  const cause = gaveUp && lastError ? lastError : err;
  return new BelayError("target.unavailable", `redis ${name}: ${cause.message}`, { retryable: true, cause });
}
