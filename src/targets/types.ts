/**
 * The narrow interfaces playbooks see. Real implementations live beside this file and are
 * built only in main.ts, from named connections in configuration.
 */

/** A Redis target (ioredis underneath). */
export interface RedisTarget {
  readonly name: string;
  /** INFO parsed into sections: { memory: { used_memory: "..." }, ... }. */
  info(section?: string): Promise<Record<string, Record<string, string>>>;
  configGet(parameter: string): Promise<string | null>;
  configSet(parameter: string, value: string): Promise<void>;
}

/** A Postgres target (pg underneath). */
export interface PostgresTarget {
  readonly name: string;
}

/** A Kubernetes target (@kubernetes/client-node underneath). */
export interface KubeTarget {
  readonly name: string;
}

/** Named connections from configuration. Asking for one that is not configured throws a clear error. */
export interface Targets {
  redis(name: string): RedisTarget;
  postgres(name: string): PostgresTarget;
  kube(name: string): KubeTarget;
}
