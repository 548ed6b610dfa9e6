import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPg } from "../../src/store/pg.ts";
import { migrate } from "../../src/store/migrate.ts";
import type { Db } from "../../src/store/driver.ts";
import { freshPgDatabase } from "../helpers/db.ts";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));
const PLAYBOOKS = fileURLToPath(new URL("../fixtures/cli-playbooks", import.meta.url));

function belay(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("belay retriage", { timeout: 60_000 }, () => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  let db: Db;
  beforeAll(async () => {
    const fresh = await freshPgDatabase("cli_retriage");
    drop = fresh.drop;
    db = openPg(fresh.url, { max: 1 });
    await migrate(db);
    env = { DATABASE_URL: fresh.url, BELAY_PLAYBOOKS_DIR: PLAYBOOKS, BELAY_LOG_LEVEL: "warn" };
  });
  afterAll(async () => {
    await db.close();
    await drop();
  });

  it("queues a triage of an open incident for belay serve's worker, and says what is wrong otherwise", async () => {
    await db.query(`INSERT INTO incidents (id, title, status, created_at, updated_at, source) VALUES ('inc_cli1', 'RedisDown', 'open', now(), now(), 'alertmanager')`);
    const ok = await belay(["retriage", "inc_cli1", "--as", "alice"], env);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^triage of inc_cli1 \(RedisDown\) queued as job_\S+; belay serve runs it/);
    const jobs = (await db.query<{ kind: string; status: string }>(`SELECT kind, status FROM incident_jobs WHERE incident_id = 'inc_cli1'`)).rows;
    expect(jobs).toEqual([{ kind: "triage", status: "pending" }]);
    const ev = (await db.query<{ actor: string; surface: string }>(`SELECT actor, surface FROM audit_events WHERE incident_id = 'inc_cli1' AND kind = 'incident.retriage_requested'`)).rows;
    expect(ev).toEqual([{ actor: "alice", surface: "cli" }]);

    const missing = await belay(["retriage", "inc_nope"], env);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("no incident inc_nope");
    expect(missing.stderr).not.toMatch(/at .*\.ts:\d+/); // a person's mistake: no stack trace
  });
});
