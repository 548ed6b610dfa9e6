import { createServer, type AddressInfo, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { describePgConnectError, endpointOf, probePostgres } from "../../src/store/pg-connect.ts";

/** The DATABASE_URL probe against small servers that answer the first handshake as given. */
const open: Server[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function serverAnswering(reply: string | null): Promise<string> {
  const srv = createServer((c) => {
    c.on("error", () => {});
    c.once("data", () => reply !== null && c.write(Buffer.from(reply, "latin1")));
  });
  open.push(srv);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return `postgres://belay:pw-never-shown@127.0.0.1:${(srv.address() as AddressInfo).port}/app`;
}

describe("probePostgres", () => {
  it("accepts Postgres's answers to an SSLRequest (N, S, an old server's ErrorResponse)", async () => {
    await expect(probePostgres(await serverAnswering("N"))).resolves.toBeUndefined();
    await expect(probePostgres(await serverAnswering("S"))).resolves.toBeUndefined();
    await expect(probePostgres(await serverAnswering("E\0\0\0\x20SFATAL\0Munsupported frontend protocol\0\0"))).resolves.toBeUndefined();
  });

  it("refuses a server that answers something else, saying what it sounded like, without the password", async () => {
    const err = await probePostgres(await serverAnswering("-ERR unknown command\r\n")).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^DATABASE_URL is not valid: the server at 127\.0\.0\.1:\d+ answered, but not like Postgres \(it sounds like Redis\); /);
    expect((err as Error).message).not.toContain("pw-never-shown");
    await expect(probePostgres(await serverAnswering("HTTP/1.1 400 Bad Request\r\n\r\n"))).rejects.toThrow(/an HTTP server/);
  });

  it("gives up on a silent server after its timeout", async () => {
    const started = Date.now();
    await expect(probePostgres(await serverAnswering(null), 300)).rejects.toThrow(/did not answer like Postgres within 0 s|within/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("says nothing listens, for a closed port", async () => {
    await expect(probePostgres("postgres://postgres@127.0.0.1:1/x")).rejects.toThrow(/^cannot reach Postgres at 127\.0\.0\.1:1 \(ECONNREFUSED/);
  });
});

describe("endpointOf and describePgConnectError", () => {
  it("read host, port, user and database without the password; sockets too", () => {
    expect(endpointOf("postgres://al%40ce:secret@db.internal:6543/app")).toMatchObject({ label: "db.internal:6543", user: "al@ce", database: "app" });
    expect(endpointOf("postgres://postgres@/app?host=/var/run/postgresql")).toMatchObject({ socketPath: "/var/run/postgresql/.s.PGSQL.5432", database: "app" });
    expect(endpointOf("postgres://a,b/x")).toBeNull();
  });

  it("turn a missing database or role into one line naming it", () => {
    const url = "postgres://nobody:pw@127.0.0.1:5432/shop";
    expect(describePgConnectError({ code: "3D000", message: 'database "shop" does not exist' }, url)?.message).toBe(
      'DATABASE_URL names database "shop", which does not exist on 127.0.0.1:5432; create it (createdb shop) or fix the database name in DATABASE_URL',
    );
    expect(describePgConnectError({ code: "28000", message: 'role "nobody" does not exist' }, url)?.message).toMatch(/^Postgres at 127\.0\.0\.1:5432 refused user "nobody": role "nobody" does not exist; /);
    expect(describePgConnectError(new TypeError("a bug"), url)).toBeNull();
  });
});
