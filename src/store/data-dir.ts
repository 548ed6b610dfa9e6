import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { BelayError } from "../errors.ts";

/**
 * Makes sure BELAY_DATA_DIR can hold the embedded store, or says in one line why not.
 *
 * Not `mkdirSync(dir, { recursive: true })`: on Node 20 that loops for ever (about 90 s of
 * mkdir/stat pairs before the process is killed) when a parent exists but refuses new entries
 * with ENOENT, as /proc does: mkdir("/proc/nope") is ENOENT, mkdir("/proc") is EEXIST, and
 * Node goes round again. Walking up to the nearest existing directory and creating each level
 * ourselves turns every refusal into an error at once.
 */
export function prepareDataDir(dataDir: string, variable = "BELAY_DATA_DIR"): string {
  const dir = resolve(dataDir);
  const missing: string[] = [];
  let at = dir;
  for (;;) {
    const kind = kindOf(at);
    if (kind === "dir") break;
    if (kind === "other") {
      const what = at === dir ? `${dir} is not a directory (it is a file)` : `${at}, a parent of it, is a file, not a directory`;
      throw refuse(variable, dataDir, `${what}; point it at a directory (or a path where one can be made)`);
    }
    const parent = dirname(at);
    if (parent === at) break;
    missing.unshift(at);
    at = parent;
  }
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST" && kindOf(level) === "dir") continue;
      throw refuse(variable, dataDir, `cannot create ${level} (${code}: ${reasonOf(code)}); point it at a writable directory, or set DATABASE_URL to use Postgres`);
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw refuse(variable, dataDir, `${dir} is not writable by this user (${code}); fix its permissions or point it at a writable directory`);
  }
  return dir;
}

function kindOf(path: string): "dir" | "other" | "missing" {
  try {
    return statSync(path).isDirectory() ? "dir" : "other";
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file; walking up finds it and names it.
    if (code === "ENOENT" || code === "ENOTDIR") return "missing";
    throw err;
  }
}

function reasonOf(code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return "its parent does not allow new directories";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left";
    default:
      return "refused";
  }
}

function refuse(variable: string, value: string, why: string): BelayError {
  return new BelayError("config.invalid", `${variable} is not valid: ${why}`, { details: { [variable]: value } });
}
