import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadEnv } from "../../src/config.ts";
import { applyEnvFile, envFileOf, parseEnvText } from "../../src/env-file.ts";
import { PROJECT_ROOT } from "../../src/paths.ts";
import { describeWhere } from "../../src/where.ts";
import { loadConfig } from "../../src/config.ts";

const tmp = mkdtempSync(join(tmpdir(), "belay-envfile-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function dirWith(name: string, envText: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, ".env"), envText);
  return dir;
}

describe(".env parsing", () => {
  it("takes KEY=value lines, comments, quotes and export-less blanks as Node does", () => {
    expect(parseEnvText('# a comment\nPORT=4000\nSLACK_API_URL="http://slack.test/api/"\nEMPTY=\nQUOTED=\'a # not a comment\'\n')).toEqual({
      PORT: "4000",
      SLACK_API_URL: "http://slack.test/api/",
      EMPTY: "",
      QUOTED: "a # not a comment",
    });
  });
});

describe("applyEnvFile", () => {
  it("reads the .env in the project directory by default, not the working directory's", () => {
    const root = dirWith("project", "PORT=4100\nBELAY_LOG_LEVEL=debug\n");
    const env: Record<string, string | undefined> = {};
    const r = applyEnvFile(env, root);
    expect(r.path).toBe(join(root, ".env"));
    expect(env).toMatchObject({ PORT: "4100", BELAY_LOG_LEVEL: "debug" });
    expect(envFileOf({})).toEqual({ path: join(PROJECT_ROOT, ".env"), optional: true });
  });

  it("lets a variable already in the environment win, and says which it overrode", () => {
    const root = dirWith("wins", "PORT=4100\nBELAY_LOG_LEVEL=debug\n");
    const env: Record<string, string | undefined> = { PORT: "5000" };
    const r = applyEnvFile(env, root);
    expect(env.PORT).toBe("5000");
    expect(env.BELAY_LOG_LEVEL).toBe("debug");
    expect(r).toMatchObject({ applied: ["BELAY_LOG_LEVEL"], overridden: ["PORT"] });
  });

  it("resolves relative paths in the file from the file's directory", () => {
    const root = dirWith("paths", "BELAY_DATA_DIR=./state\nBELAY_PLAYBOOKS_DIR=books\nBELAY_CONFIG=/etc/belay.yaml\n");
    const env: Record<string, string | undefined> = {};
    applyEnvFile(env, root);
    expect(env).toMatchObject({ BELAY_DATA_DIR: join(root, "state"), BELAY_PLAYBOOKS_DIR: join(root, "books"), BELAY_CONFIG: "/etc/belay.yaml" });
  });

  it("reads the file BELAY_ENV_FILE names, and none when it is empty", () => {
    const other = dirWith("other", "PORT=4200\n");
    const env: Record<string, string | undefined> = { BELAY_ENV_FILE: join(other, ".env") };
    applyEnvFile(env, dirWith("ignored", "PORT=1\n"));
    expect(env.PORT).toBe("4200");
    const off: Record<string, string | undefined> = { BELAY_ENV_FILE: "" };
    expect(applyEnvFile(off, dirWith("off", "PORT=1\n"))).toEqual({ path: null, applied: [], overridden: [] });
    expect(off.PORT).toBeUndefined();
  });

  it("is quiet when the default file is absent, one line when a named one is", () => {
    const empty = join(tmp, "no-env-here");
    mkdirSync(empty);
    expect(applyEnvFile({}, empty).path).toBeNull();
    const missing = join(tmp, "missing.env");
    expect(() => applyEnvFile({ BELAY_ENV_FILE: missing }, empty)).toThrow(new RegExp(`^BELAY_ENV_FILE is not valid: ${missing} cannot be read \\(ENOENT\\); .*BELAY_ENV_FILE= \\(empty\\)`));
  });
});

describe("paths do not follow the working directory", () => {
  it("resolves relative BELAY_* paths from the project root, and defaults there", () => {
    const env = loadEnv({ BELAY_DATA_DIR: "state", BELAY_PLAYBOOKS_DIR: "./books" });
    expect(env.BELAY_DATA_DIR).toBe(join(PROJECT_ROOT, "state"));
    expect(env.BELAY_PLAYBOOKS_DIR).toBe(join(PROJECT_ROOT, "books"));
    expect(loadEnv({}).BELAY_PLAYBOOKS_DIR).toBe(join(PROJECT_ROOT, "playbooks"));
    expect(loadEnv({}).BELAY_DATA_DIR).toBe(join(PROJECT_ROOT, ".belay"));
  });

  it("the where line names config, .env, playbooks and store, without a password", () => {
    const config = loadConfig({ DATABASE_URL: "postgres://belay:s3cret@db.internal:5433/belay", BELAY_PLAYBOOKS_DIR: "/srv/books" });
    const line = describeWhere(config, { BELAY_ENV_FILE: "" });
    expect(line).toBe("config none (defaults; set BELAY_CONFIG); .env off (BELAY_ENV_FILE=); playbooks /srv/books; store Postgres belay@db.internal:5433/belay");
    expect(line).not.toContain("s3cret");
  });

  it("belay started from another directory uses the .env file's directory for its data (a real child)", () => {
    const dir = dirWith("child", "BELAY_DATA_DIR=data-from-env\nBELAY_PLAYBOOKS_DIR=books\n");
    mkdirSync(join(dir, "books"));
    const elsewhere = join(tmp, "elsewhere");
    mkdirSync(elsewhere);
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin/belay.mjs"), "runs"], {
      cwd: elsewhere,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, BELAY_ENV_FILE: join(dir, ".env"), BELAY_LOG_LEVEL: "silent" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("no runs yet");
    expect(existsSync(join(dir, "data-from-env", "pgdata"))).toBe(true);
    expect(existsSync(join(elsewhere, "data-from-env"))).toBe(false);
  });
});
