import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_ADMIN_URL } from "../helpers/db.ts";

/**
 * A set-up mistake (a port in use, a DATABASE_URL that names the wrong thing, a data
 * directory that cannot be one, a playbook that throws, a broken config file) is answered by
 * belay itself as a person would run it: a child `node bin/belay.mjs ...`, exit code 1, one
 * line on stderr saying what, why and what to do, no stack trace, and no long wait.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = join(ROOT, "bin/belay.mjs");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function belay(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<Result> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", BELAY_ENV_FILE: "", BELAY_LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`belay ${args.join(" ")} ran past ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * Exit 1, one line on stderr with every key word, no stack frame, within `withinMs`. The
 * limits are loose (a child's tsx start-up alone takes seconds on a busy 2-core machine) but
 * far below what these mistakes cost before: /proc/nope looped for 90 s, a Redis port waited
 * out pg's 10 s connect timeout, a port in use was found only after the store had opened.
 * The probe's own timing is measured in-process by test/unit/pg-connect.test.ts.
 */
function expectOneLine(r: Result, words: (string | RegExp)[], withinMs = 10_000): void {
  const detail = `stderr: ${r.stderr}\nstdout: ${r.stdout}`;
  expect(r.code, detail).toBe(1);
  expect(r.stderr, detail).not.toMatch(/^\s+at /m);
  expect(r.stderr.trim().split("\n"), detail).toHaveLength(1);
  for (const w of words) expect(r.stderr, detail).toMatch(typeof w === "string" ? new RegExp(w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i") : w);
  expect(r.ms, detail).toBeLessThan(withinMs);
}

function pgUrlWith(part: { user?: string; database?: string; port?: number }): string {
  const u = new URL(PG_ADMIN_URL);
  if (part.user) u.username = part.user;
  if (part.database) u.pathname = `/${part.database}`;
  if (part.port) u.port = String(part.port);
  return u.toString();
}

const listening = (server: Server | ReturnType<typeof createHttpServer>) =>
  new Promise<number>((r) => server.listen(0, "127.0.0.1", () => r((server.address() as AddressInfo).port)));

let tmp: string;
let emptyPlaybooks: string;
const servers: { close(): void }[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "belay-setup-"));
  emptyPlaybooks = join(tmp, "no-playbooks");
  mkdirSync(emptyPlaybooks);
});
afterAll(() => {
  for (const s of servers) s.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("set-up mistakes are one line, exit 1, no stack", () => {
  it("a port already in use names the port and what to do", async () => {
    const taken = createServer();
    servers.push(taken);
    const port = await listening(taken);
    const r = await belay(["serve", "--host", "127.0.0.1", "--port", String(port)], { BELAY_PLAYBOOKS_DIR: emptyPlaybooks, BELAY_DATA_DIR: join(tmp, "data-port") });
    expectOneLine(r, [String(port), "in use", /PORT|--port/]);
    // Before anything else, serve said where it reads and keeps things.
    expect(r.stdout).toContain(`where: config none (defaults; set BELAY_CONFIG); .env off (BELAY_ENV_FILE=); playbooks ${emptyPlaybooks}; store embedded PGlite in ${join(tmp, "data-port")}`);
  });

  it("a host that is not this machine's names the host", async () => {
    const r = await belay(["serve", "--host", "192.0.2.1", "--port", "0"], { BELAY_PLAYBOOKS_DIR: emptyPlaybooks, BELAY_DATA_DIR: join(tmp, "data-host") });
    expectOneLine(r, ["192.0.2.1", /--host/]);
  });

  it("DATABASE_URL naming a database that does not exist", async () => {
    const r = await belay(["runs"], { DATABASE_URL: pgUrlWith({ database: "belay_no_such_db" }) });
    expectOneLine(r, ["belay_no_such_db", "does not exist", "DATABASE_URL"]);
  });

  it("DATABASE_URL naming a role that does not exist", async () => {
    const r = await belay(["runs"], { DATABASE_URL: pgUrlWith({ user: "nobody" }) });
    expectOneLine(r, ['"nobody"', "DATABASE_URL"]);
  });

  it("DATABASE_URL pointing at Redis, not Postgres, answers within the probe's timeout", async () => {
    const r = await belay(["runs"], { DATABASE_URL: pgUrlWith({ port: 6379 }) });
    expectOneLine(r, ["6379", "not answer like Postgres within 5 s", "DATABASE_URL"], 15_000);
  });

  it("DATABASE_URL pointing at a server that answers something else (HTTP)", async () => {
    const http = createHttpServer((_q, s) => s.end("hello"));
    servers.push(http);
    const port = await listening(http);
    const r = await belay(["runs"], { DATABASE_URL: pgUrlWith({ port }) });
    expectOneLine(r, [String(port), "not", "Postgres"]);
  });

  it("DATABASE_URL pointing at a TCP server that never answers", async () => {
    const silent = createServer(() => {});
    servers.push(silent);
    const port = await listening(silent);
    const r = await belay(["runs"], { DATABASE_URL: pgUrlWith({ port }) });
    expectOneLine(r, [String(port), "within 5 s", "Postgres", "DATABASE_URL"], 15_000);
  });

  it("BELAY_DATA_DIR that is a file", async () => {
    const file = join(tmp, "a-file");
    writeFileSync(file, "not a directory\n");
    const r = await belay(["runs"], { BELAY_DATA_DIR: file });
    expectOneLine(r, ["BELAY_DATA_DIR", file, "not a directory"]);
  });

  it("BELAY_DATA_DIR that cannot be created (/proc/nope) fails at once", async () => {
    const r = await belay(["runs"], { BELAY_DATA_DIR: "/proc/nope" }, 20_000);
    expectOneLine(r, ["BELAY_DATA_DIR", "/proc/nope"], 15_000);
  });

  it("a playbook that throws while loading is named, with its line", async () => {
    const dir = join(tmp, "throwing");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    writeFileSync(
      join(dir, "broken.ts"),
      `import { playbook } from ${JSON.stringify(pathToFileURL(join(ROOT, "src/sdk/index.ts")).href)};\nvoid playbook;\nconst settings: Record<string, string> = {};\nthrow new Error("no setting " + (settings.cluster ?? "cluster"));\n`,
    );
    const r = await belay(["playbooks", "list"], { BELAY_PLAYBOOKS_DIR: dir });
    expectOneLine(r, ["broken.ts:4", "no setting cluster", "BELAY_PLAYBOOKS_DIR"]);
  });

  it("a playbook that does not compile is named, with its line and column", async () => {
    const dir = join(tmp, "syntax");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(dir, "typo.ts"), "const replicas: number = ;\nexport default replicas;\n");
    const r = await belay(["playbooks", "list"], { BELAY_PLAYBOOKS_DIR: dir });
    expectOneLine(r, ["typo.ts:1:", "does not compile", "BELAY_PLAYBOOKS_DIR"]);
  });

  it("a playbooks directory outside an ES module package says what to add", async () => {
    const dir = join(tmp, "commonjs");
    mkdirSync(dir);
    writeFileSync(join(dir, "plain.ts"), `import { playbook } from ${JSON.stringify(pathToFileURL(join(ROOT, "src/sdk/index.ts")).href)};\nexport default playbook;\n`);
    const r = await belay(["playbooks", "list"], { BELAY_PLAYBOOKS_DIR: dir });
    expectOneLine(r, ["plain.ts", "ES module package", '{"type": "module"}']);
  });

  it("a BELAY_CONFIG that is not valid YAML names the file and the line", async () => {
    const file = join(tmp, "bad.yaml");
    writeFileSync(file, "targets:\n  redis: [\n    cache: { url: redis://x }\n");
    const r = await belay(["runs"], { BELAY_CONFIG: file, BELAY_DATA_DIR: join(tmp, "data-yaml") });
    expectOneLine(r, ["BELAY_CONFIG", file, /line \d+/]);
  });

  it("an environment variable with a bad value: NAME is not valid: why", async () => {
    const r = await belay(["runs"], { PORT: "eighty" });
    expectOneLine(r, [/^PORT is not valid: /, "eighty"]);
  });

  it("what is not a set-up mistake still shows its stack (a bug is not hidden)", async () => {
    const dir = join(tmp, "bug");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    // Loads fine; reading its brand throws a plain TypeError inside belay's registry.
    writeFileSync(join(dir, "odd.ts"), 'export default new Proxy({}, { get() { throw new TypeError("odd default export"); } });\n');
    const r = await belay(["playbooks", "list"], { BELAY_PLAYBOOKS_DIR: dir });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("unexpected error: TypeError: odd default export");
    expect(r.stderr).toMatch(/^\s+at /m);
  });
});
