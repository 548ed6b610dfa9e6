import { Redis } from "ioredis";
import type { RedisFaults } from "../sdk/drill.ts";

/** A key this idle is the first an LRU policy evicts: the drill's own keys go before anyone else's. */
const LONG_IDLE_SEC = 10_000_000;

const isOom = (err: unknown) => /^OOM /.test((err as Error).message ?? "");

/**
 * Fault primitives against one Redis: what targets deliberately do not offer (bulk writes
 * until OOM). Used by drills only; every key written carries a TTL and the drill's prefix.
 */
export function createRedisFaults(url: string): RedisFaults & { close(): Promise<void> } {
  let client: Redis | null = null;
  const redis = () => (client ??= new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000, connectionName: "belay-drill" }));

  return {
    async configGet(parameter) {
      const reply = (await redis().config("GET", parameter)) as unknown;
      // RESP2 answers [name, value]; RESP3 a map.
      if (Array.isArray(reply)) return reply.length >= 2 ? String(reply[1]) : null;
      if (reply instanceof Map) return reply.has(parameter) ? String(reply.get(parameter)) : null;
      if (reply && typeof reply === "object") return parameter in reply ? String((reply as Record<string, unknown>)[parameter]) : null;
      return null;
    },
    async configSet(parameter, value) {
      await redis().config("SET", parameter, value);
    },
    async usedMemory() {
      const m = /used_memory:(\d+)/.exec(String(await redis().info("memory")));
      return m ? Number(m[1]) : 0;
    },
    async fillUntilOom({ prefix, valueBytes, ttlMs, maxKeys }) {
      const r = redis();
      const seed = `${prefix}seed`;
      try {
        await r.set(seed, "x".repeat(valueBytes), "PX", ttlMs);
      } catch (err) {
        if (isOom(err)) return { keys: 0, oom: true, error: (err as Error).message };
        throw err;
      }
      const payload = await r.dumpBuffer(seed);
      try {
        await r.restore(seed, ttlMs, payload, "REPLACE", "IDLETIME", LONG_IDLE_SEC);
      } catch (err) {
        if (isOom(err)) return { keys: 0, oom: true, error: (err as Error).message };
        throw err;
      }
      // RESTORE ... IDLETIME: the copies look long unused, so eviction picks them first.
      for (let n = 0; n < maxKeys; n += 16) {
        const pipe = r.pipeline();
        for (let i = n; i < Math.min(n + 16, maxKeys); i++) pipe.restore(`${prefix}${i}`, ttlMs, payload, "REPLACE", "IDLETIME", LONG_IDLE_SEC);
        const results = (await pipe.exec()) ?? [];
        const failed = results.findIndex(([err]) => err);
        if (failed >= 0) {
          const err = results[failed]![0]!;
          if (isOom(err)) return { keys: n + failed, oom: true, error: err.message };
          throw err;
        }
      }
      return { keys: maxKeys, oom: false, error: null };
    },
    async tryWrite(key, ttlMs) {
      try {
        await redis().set(key, "1", "PX", ttlMs);
        return { ok: true, error: null };
      } catch (err) {
        if (isOom(err)) return { ok: false, error: (err as Error).message };
        throw err;
      }
    },
    async deleteByPrefix(prefix) {
      const r = redis();
      let cursor = "0";
      let deleted = 0;
      do {
        const [next, keys] = await r.scan(cursor, "MATCH", `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`, "COUNT", 500);
        cursor = next;
        if (keys.length) deleted += await r.unlink(...keys);
      } while (cursor !== "0");
      return deleted;
    },
    async close() {
      const c = client;
      client = null;
      if (c) await c.quit().catch(() => c.disconnect());
    },
  };
}
