import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parseEnv } from "node:util";
import { BelayError } from "./errors.ts";
import { PATH_VARIABLES, PROJECT_ROOT } from "./paths.ts";

/**
 * The `.env` file read at start: by default the one in belay's project directory (not the
 * working directory), or the file BELAY_ENV_FILE names, or none when BELAY_ENV_FILE is "".
 * A variable already in the environment wins over the file. Relative paths the file gives
 * (BELAY_PLAYBOOKS_DIR, BELAY_DATA_DIR, BELAY_CONFIG) are taken from the file's directory.
 * The syntax is Node's own (util.parseEnv): KEY=value, # comments, quoted values.
 */
export interface EnvFileResult {
  /** The file read, or null (none named, the default one absent, or turned off). */
  path: string | null;
  /** Variables the file set (those the environment did not already have). */
  applied: string[];
  /** Variables the file has that the environment overrode. */
  overridden: string[];
}

/** Which file would be read for this environment; `optional` when its absence is fine (the default). */
export function envFileOf(env: Record<string, string | undefined>, root = PROJECT_ROOT): { path: string; optional: boolean } | null {
  const named = env.BELAY_ENV_FILE;
  if (named === undefined) return { path: join(root, ".env"), optional: true };
  if (named.trim() === "") return null;
  return { path: isAbsolute(named) ? named : resolve(named), optional: false };
}

/** Reads the .env file into `env` (the process's environment at start); the environment's own values win. */
export function applyEnvFile(env: Record<string, string | undefined>, root = PROJECT_ROOT): EnvFileResult {
  const file = envFileOf(env, root);
  if (!file) return { path: null, applied: [], overridden: [] };
  let text: string;
  try {
    text = readFileSync(file.path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (file.optional && code === "ENOENT") return { path: null, applied: [], overridden: [] };
    const what = file.optional ? `${file.path} (the project's .env)` : file.path;
    throw new BelayError("config.invalid", `BELAY_ENV_FILE is not valid: ${what} cannot be read (${code}); fix the path, or set BELAY_ENV_FILE= (empty) to read no .env file`);
  }
  const values = parseEnvText(text);
  const applied: string[] = [];
  const overridden: string[] = [];
  const base = dirname(file.path);
  for (const [name, value] of Object.entries(values)) {
    if (name === "BELAY_ENV_FILE") continue; // a file cannot name another file
    if (env[name] !== undefined) {
      overridden.push(name);
      continue;
    }
    const isPath = (PATH_VARIABLES as readonly string[]).includes(name) && value !== "";
    env[name] = isPath ? resolve(base, value) : value;
    applied.push(name);
  }
  return { path: file.path, applied, overridden };
}

/** The KEY=value pairs of a .env text (Node's parser: the same rules as `node --env-file`). */
export function parseEnvText(text: string): Record<string, string> {
  return parseEnv(text) as Record<string, string>;
}
