import { KubeConfig } from "@kubernetes/client-node";
import type { TargetConfig } from "../config.ts";

export type KubeTargetConfig = TargetConfig["kube"][string];

/**
 * A KubeConfig from one named target: an explicit server and token, a kubeconfig file (and
 * context), or the default chain (KUBECONFIG, ~/.kube/config, in-cluster service account).
 * client-node refuses `http://` servers unless skipTLSVerify is set.
 */
export function buildKubeConfig(name: string, cfg: KubeTargetConfig): KubeConfig {
  const kc = new KubeConfig();
  if (cfg.server) {
    kc.loadFromOptions({
      clusters: [{ name, server: cfg.server, skipTLSVerify: cfg.skipTLSVerify ?? false }],
      users: [cfg.token ? { name, token: cfg.token } : { name }],
      contexts: [{ name, cluster: name, user: name }],
      currentContext: name,
    });
    return kc;
  }
  if (cfg.kubeconfig) kc.loadFromFile(cfg.kubeconfig);
  else kc.loadFromDefault();
  if (cfg.context) kc.setCurrentContext(cfg.context);
  return kc;
}

const UNITS: Record<string, number> = {
  "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  m: 1e-3,
};

/** A Kubernetes quantity (`512Mi`, `1G`, `1.5Gi`, `1e9`) in base units, or null when unparseable. */
export function parseQuantity(q: string | null | undefined): number | null {
  if (q === null || q === undefined) return null;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return null;
  const unit = UNITS[m[2]!];
  return unit === undefined ? null : Number(m[1]) * unit;
}
