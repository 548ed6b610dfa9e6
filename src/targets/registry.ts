import type { TargetConfig } from "../config.ts";
import { BelayError } from "../errors.ts";
import type { KubeTargetDeps } from "./kube.ts";
import { createPostgresTarget } from "./postgres.ts";
import { createPrometheusTarget } from "./prometheus.ts";
import { createRedisTarget } from "./redis.ts";
import type { KubeTarget, Targets } from "./types.ts";

export interface TargetsDeps extends KubeTargetDeps {
  logger?: { warn(obj: object, msg: string): void };
}

type Closable<T> = T & { close?(): Promise<void>; hold?(): Promise<void>; release?(): Promise<void> };

/** Standing connections to targets, for incidents about them (see incidents/standing.ts). */
export interface TargetHolder {
  hold(kind: "redis" | "postgres", name: string): Promise<void>;
  release(kind: "redis" | "postgres", name: string): Promise<void>;
}

/**
 * Named connections from configuration. Nothing connects until a playbook asks for a name;
 * each name is then one client, reused, until `close()`.
 *
 * @example
 * const targets = createTargets(config.file.targets, { logger });
 * await targets.redis("cache").memoryInfo();
 * await targets.close();
 */
export function createTargets(given: Omit<TargetConfig, "prometheus"> & Partial<Pick<TargetConfig, "prometheus">>, deps: TargetsDeps = {}): Targets & TargetHolder & { close(): Promise<void> } {
  const config: TargetConfig = { ...given, prometheus: given.prometheus ?? {} };
  const open = new Map<string, Closable<object>>();

  function get<T>(kind: "redis" | "postgres" | "kube" | "prometheus", name: string, make: () => Closable<T>, hint: string): T {
    const key = `${kind}:${name}`;
    let t = open.get(key) as Closable<T> | undefined;
    if (!t) {
      if (!Object.hasOwn(config[kind], name)) {
        const known = Object.keys(config[kind]);
        throw new BelayError(
          "config.invalid",
          `no ${kind} target named '${name}' is configured; add targets.${kind}.${name}.${hint} to BELAY_CONFIG` +
            (known.length ? ` (configured: ${known.join(", ")})` : ""),
        );
      }
      t = make();
      open.set(key, t as Closable<object>);
    }
    return t;
  }

  function onlyPrometheus(): string {
    const names = Object.keys(config.prometheus);
    if (names.length === 1) return names[0]!;
    throw new BelayError(
      "config.invalid",
      names.length === 0
        ? "no prometheus target is configured; add targets.prometheus.<name>.url to BELAY_CONFIG"
        : `several prometheus targets are configured (${names.join(", ")}); name the one to read`,
    );
  }

  return {
    redis: (name) => get("redis", name, () => createRedisTarget(name, config.redis[name]!.url, deps), "url"),
    postgres: (name) => get("postgres", name, () => createPostgresTarget(name, config.postgres[name]!.url, deps), "url"),
    kube: (name) => get("kube", name, () => lazyKubeTarget(name, config.kube[name]!, deps), "server"),
    async hold(kind, name) {
      const t = (kind === "redis" ? this.redis(name) : this.postgres(name)) as Closable<object>;
      await t.hold?.();
    },
    async release(kind, name) {
      const t = open.get(`${kind}:${name}`);
      await t?.release?.();
    },
    prometheus: (name = onlyPrometheus()) => get("prometheus", name, () => createPrometheusTarget(name, config.prometheus[name]!.url), "url"),
    async close() {
      const all = [...open.values()];
      open.clear();
      const results = await Promise.allSettled(all.map((t) => t.close?.()));
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
  };
}

/**
 * @kubernetes/client-node takes seconds to import; a CLI command that never touches a
 * cluster should not pay for it. The real target is built on the first call.
 */
function lazyKubeTarget(name: string, config: TargetConfig["kube"][string], deps: TargetsDeps): Closable<KubeTarget> {
  let real: Promise<Closable<KubeTarget>> | null = null;
  const load = () =>
    (real ??= Promise.all([import("./kube.ts"), import("./kube-config.ts")]).then(
      ([k, c]) => k.createKubeTarget(name, () => c.buildKubeConfig(name, config), deps) as Closable<KubeTarget>,
    ));
  return new Proxy({} as Closable<KubeTarget>, {
    get(_t, prop) {
      if (prop === "name") return name;
      if (prop === "then") return undefined; // not a thenable
      if (prop === "close") return async () => (real ? (await real).close?.() : undefined);
      return async (...args: unknown[]) => {
        const target = (await load()) as unknown as Record<string | symbol, (...a: unknown[]) => unknown>;
        return target[prop]!(...args);
      };
    },
  });
}
