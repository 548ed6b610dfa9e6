/**
 * Everything a playbook may import. Nothing else of src/ is imported from playbooks/.
 */
export { z } from "zod";
export { playbook, isPlaybook, type Playbook, type AnyPlaybook } from "./playbook.ts";
export { secret } from "./secret.ts";
export { alertSchema, type Alert } from "./alert.ts";
export type * from "./types.ts";
export type { Targets, RedisTarget, PostgresTarget, KubeTarget } from "../targets/types.ts";
