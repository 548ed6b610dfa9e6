import { describe, expect, it } from "vitest";
import { parseSlowlog } from "../../src/targets/redis-parse.ts";

/** SLOWLOG GET from a server that logs arguments as sent (before Redis 6.2 redacted them itself). */
const entry = (argv: string[]) => [[7, 1_700_000_000, 12, argv, "127.0.0.1:5000", "app"]];
const command = (argv: string[]) => parseSlowlog(entry(argv))[0]!.command;

describe("slowlog: passwords in arguments", () => {
  it("AUTH, HELLO AUTH, MIGRATE AUTH/AUTH2, CONFIG SET of a secret parameter, ACL SETUSER passwords", () => {
    expect(command(["AUTH", "hunter2"])).toBe("AUTH [redacted]");
    expect(command(["auth", "app", "hunter2"])).toBe("auth [redacted] [redacted]");
    expect(command(["HELLO", "3", "AUTH", "app", "hunter2", "SETNAME", "w"])).toBe("HELLO 3 AUTH [redacted] [redacted] SETNAME w");
    expect(command(["MIGRATE", "h", "6379", "", "0", "5000", "AUTH", "pw", "KEYS", "a"])).toBe("MIGRATE h 6379  0 5000 AUTH [redacted] KEYS a");
    expect(command(["MIGRATE", "h", "6379", "k", "0", "5000", "AUTH2", "u", "pw"])).toBe("MIGRATE h 6379 k 0 5000 AUTH2 [redacted] [redacted]");
    expect(command(["CONFIG", "SET", "requirepass", "hunter2"])).toBe("CONFIG SET requirepass [redacted]");
    expect(command(["config", "set", "maxmemory", "1gb", "masterauth", "pw"])).toBe("config set maxmemory 1gb masterauth [redacted]");
    expect(command(["ACL", "SETUSER", "app", "on", ">hunter2", "#abcdef", "~*", "+@all"])).toBe("ACL SETUSER app on >[redacted] #[redacted] ~* +@all");
  });

  it("leaves other commands as they were", () => {
    expect(command(["GET", "user:42:token"])).toBe("GET user:42:token");
    expect(command(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])).toBe("CONFIG SET maxmemory-policy allkeys-lru");
    expect(command(["SET", "auth", "x"])).toBe("SET auth x");
  });
});
