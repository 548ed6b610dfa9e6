import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisTarget } from "../../src/targets/redis.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";

/*
 * CONFIG GET of requirepass or masterauth answers the password itself, as a bare string no
 * key-based redaction can recognise later. The target never hands it out. A Redis of this
 * file's own (CONFIG SET of passwords must never touch the shared one).
 */
let own: OwnRedis;
let raw: Redis;
let target: ReturnType<typeof createRedisTarget>;

beforeAll(async () => {
  own = await startOwnRedis();
  raw = new Redis(own.url);
  await raw.config("SET", "masterauth", "m4ster-s3cret");
  await raw.config("SET", "requirepass", "hunter2"); // this connection stays authenticated
  const u = new URL(own.url);
  u.password = "hunter2";
  target = createRedisTarget("own", u.toString());
});
afterAll(async () => {
  await target?.close();
  raw?.disconnect();
  await own?.stop();
});

describe("redis target: secret parameters", () => {
  it("configGet of requirepass and masterauth says [redacted], never the password", async () => {
    expect(await target.configGet("requirepass")).toBe("[redacted]");
    expect(await target.configGet("masterauth")).toBe("[redacted]");
    expect(await target.configGet("maxmemory-policy")).toBe("noeviction");
  });

  it("configSet of a secret parameter changes it but shows neither value", async () => {
    const change = await target.configSet("masterauth", "n3w-m4ster");
    expect(JSON.stringify(change)).not.toMatch(/m4ster/);
    expect(change).toMatchObject({ parameter: "masterauth", previous: "[redacted]", value: "[redacted]", summary: "CONFIG SET masterauth [redacted] -> [redacted]" });
    expect(((await raw.config("GET", "masterauth")) as string[])[1]).toBe("n3w-m4ster");
  });

  it("the slowlog shows no AUTH password", async () => {
    await raw.config("SET", "slowlog-log-slower-than", "0");
    const other = new Redis(own.url, { lazyConnect: true, password: "hunter2" });
    await other.connect();
    await other.ping();
    other.disconnect();
    const log = await target.slowlog(100);
    expect(log.length).toBeGreaterThan(0);
    expect(JSON.stringify(log)).not.toMatch(/hunter2/);
    const list = await target.clientList();
    expect(JSON.stringify(list)).not.toMatch(/hunter2/);
    await raw.config("SET", "slowlog-log-slower-than", "10000");
  });
});
