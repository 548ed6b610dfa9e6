import { existsSync } from "node:fs";
import type { Config } from "./config.ts";
import { envFileOf } from "./env-file.ts";
import { endpointOf } from "./store/pg-connect.ts";

/**
 * One line saying where this belay reads and keeps things, printed at start: the config file,
 * the .env file, the playbooks directory and the store. A working directory that changed, or
 * a .env that set something, is then visible instead of silent. No password is printed.
 */
export function describeWhere(config: Config, env: Record<string, string | undefined>): string {
  const envFile = envFileOf(env);
  const envText = !envFile ? "off (BELAY_ENV_FILE=)" : existsSync(envFile.path) ? envFile.path : `none (${envFile.path} absent)`;
  return [
    `config ${config.env.BELAY_CONFIG ?? "none (defaults; set BELAY_CONFIG)"}`,
    `.env ${envText}`,
    `playbooks ${config.env.BELAY_PLAYBOOKS_DIR}`,
    `store ${storeOf(config.env.DATABASE_URL, config.env.BELAY_DATA_DIR)}`,
  ].join("; ");
}

function storeOf(databaseUrl: string | undefined, dataDir: string): string {
  if (!databaseUrl) return `embedded PGlite in ${dataDir}`;
  const at = endpointOf(databaseUrl);
  return at ? `Postgres ${at.user}@${at.label}/${at.database}` : "Postgres (DATABASE_URL)";
}
