import { fileURLToPath } from "node:url";

/**
 * belay's own project directory: where package.json, bin/ and the default playbooks/ are,
 * whatever directory belay is started from. Relative BELAY_PLAYBOOKS_DIR, BELAY_DATA_DIR and
 * BELAY_CONFIG values are taken from here (or from the directory of the .env file that set
 * them), so `cd /tmp && belay run ...` reads the same playbooks and store as from the project.
 */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The variables that name a path, resolved against a base directory rather than the working directory. */
export const PATH_VARIABLES = ["BELAY_PLAYBOOKS_DIR", "BELAY_DATA_DIR", "BELAY_CONFIG"] as const;
