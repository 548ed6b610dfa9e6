import { ApiException, type CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { drainSkipReason } from "./kube-rules.ts";
import type { KubeDrain, MutateOptions } from "./types.ts";

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

const key = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

/**
 * `kubectl drain` through the Eviction API. The node should be cordoned first (a separate,
 * approved step). DaemonSet and mirror pods stay, as do finished and unmanaged pods.
 * A PodDisruptionBudget that would be violated answers 429: that pod is retried every
 * `backoffMs` until the deadline. Then evicted pods are awaited until they are gone.
 */
export async function drainNode(
  core: CoreV1Api,
  node: string,
  opts: MutateOptions & { deadlineMs: number; backoffMs?: number; signal?: AbortSignal },
  deps: { now: () => number; sleep: Sleep },
): Promise<KubeDrain> {
  const deadline = deps.now() + opts.deadlineMs;
  const backoff = opts.backoffMs ?? 5_000;
  const onNode = async () => (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items;

  const pods = await onNode();
  const skipped: { pod: string; reason: string }[] = [];
  const toEvict: V1Pod[] = [];
  for (const p of pods) {
    const reason = drainSkipReason(p);
    if (reason) skipped.push({ pod: key(p), reason });
    else toEvict.push(p);
  }
  const base = { node, skipped, dryRun: !!opts.dryRun };
  const listing = [...toEvict.map((p) => `- evict ${key(p)}`), ...skipped.map((s) => `  keep ${s.pod}: ${s.reason}`)].join("\n");

  if (opts.dryRun) {
    return { ...base, summary: `drain node/${node}: evict ${toEvict.length} pods, keep ${skipped.length}`, diff: listing, evicted: toEvict.map(key), remaining: [], complete: true };
  }

  const evicted: string[] = [];
  const blocked: string[] = [];
  await Promise.all(
    toEvict.map(async (p) => {
      const name = p.metadata?.name ?? "";
      const namespace = p.metadata?.namespace ?? "";
      for (;;) {
        opts.signal?.throwIfAborted(); // an aborted step evicts nothing more
        try {
          await core.createNamespacedPodEviction({
            name,
            namespace,
            body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace } },
          });
          evicted.push(key(p));
          return;
        } catch (err) {
          if (err instanceof ApiException && err.code === 404) return; // already gone
          if (err instanceof ApiException && err.code === 429) {
            // A PodDisruptionBudget says not now; the body is a JSON Status string.
            if (deps.now() + backoff > deadline) {
              blocked.push(key(p));
              return;
            }
            await deps.sleep(backoff, opts.signal);
            continue;
          }
          throw err;
        }
      }
    }),
  );

  // Eviction starts graceful deletion; the pod is gone only when the kubelet has stopped it.
  const evictedUids = new Set(toEvict.filter((p) => evicted.includes(key(p))).map((p) => p.metadata?.uid));
  let remaining: string[] = [];
  for (;;) {
    remaining = (await onNode()).filter((p) => evictedUids.has(p.metadata?.uid)).map(key);
    if (remaining.length === 0 || deps.now() >= deadline) break;
    await deps.sleep(Math.min(2_000, Math.max(0, deadline - deps.now())), opts.signal);
  }
  remaining = [...blocked, ...remaining];
  return {
    ...base,
    summary: `drain node/${node}: evicted ${evicted.length}, kept ${skipped.length}${remaining.length ? `, ${remaining.length} still there at the deadline` : ""}`,
    diff: listing,
    evicted,
    remaining,
    complete: remaining.length === 0,
  };
}
