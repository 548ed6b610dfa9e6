import { storesNamed, targetsMatching, type TargetDirectory } from "../plan/targets.ts";
import type { Alert } from "../sdk/alert.ts";
import type { TargetKind } from "../sdk/target.ts";

const KINDS: readonly TargetKind[] = ["redis", "postgres", "kube"];
const NAMING_LABEL: Record<TargetKind, string> = { redis: "redis", postgres: "postgres", kube: "cluster" };
/**
 * Labels that name a thing inside what an exporter watches (one kube-state-metrics instance
 * reports every pod): alerts about different ones of these are different problems.
 */
const OBJECT_LABELS = ["namespace", "pod", "deployment", "statefulset", "daemonset", "job_name", "container", "node", "persistentvolumeclaim", "hpa", "cronjob", "queue", "datname", "relname"];

/**
 * The configured target an alert is about: a label naming it, else the one target whose
 * labels: match, else (for an alert that names a data store, like an aggregated
 * RedisMissingMaster without instance labels) the only configured target of that store.
 * Null when none of these decides.
 */
export function targetOfAlert(alert: Alert, dir: TargetDirectory): { kind: TargetKind; name: string } | null {
  for (const kind of KINDS) {
    const named = alert.labels[NAMING_LABEL[kind]];
    if (named !== undefined && Object.hasOwn(dir[kind] ?? {}, named)) return { kind, name: named };
  }
  const matches = KINDS.flatMap((kind) => targetsMatching(dir, kind, alert.labels).map((name) => ({ kind, name })));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) return null;
  const stores = [...storesNamed(alert, alert.title)];
  if (stores.length !== 1) return null;
  const only = Object.entries(dir[stores[0]!] ?? {});
  if (only.length !== 1) return null;
  // Not when the alert carries a label the target's matchers look at, with another value: that is another server.
  const [name, t] = only[0]!;
  const contradicts = Object.keys(t.labels ?? {}).some((k) => alert.labels[k] !== undefined);
  return contradicts ? null : { kind: stores[0]!, name };
}

/**
 * What an alert is about, as a grouping key: its resolved target (`target:redis/cache`), else
 * the exporter instance or job that reported it together with the object labels it carries.
 * Alerts with the same key within the window are one incident whatever their alertname
 * (RedisDown and RedisMissingMaster; RejectedConnections and TooManyConnections). Null: the
 * alert names no instance, job or target.
 */
export function correlationKeyOf(alert: Alert, dir: TargetDirectory): string | null {
  const drill = alert.drill ? "drill:" : "";
  const t = targetOfAlert(alert, dir);
  if (t) return `target:${drill}${t.kind}/${t.name}`;
  const where = alert.labels.instance !== undefined ? `instance=${alert.labels.instance}` : alert.labels.job !== undefined ? `job=${alert.labels.job}` : null;
  if (!where) return null;
  const objects = OBJECT_LABELS.filter((l) => alert.labels[l] !== undefined).map((l) => `${l}=${alert.labels[l]}`);
  return `instance:${drill}${alert.source}:${[where, ...objects].join(",")}`;
}

/** Keys of this kind outlive their incident's resolution for a while: a related alert firing soon after reopens it. */
export function isCorrelationKey(key: string): boolean {
  return key.startsWith("target:") || key.startsWith("instance:");
}
