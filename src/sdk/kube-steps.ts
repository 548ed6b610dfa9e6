import type { Risk } from "../approve/policy.ts";
import type { Change } from "../targets/types.ts";
import type { ActSpec } from "./types.ts";

/** The params every Deployment-scoped Kubernetes playbook has. */
export interface DeploymentParams {
  kube: string;
  namespace: string;
  deployment: string;
}

/**
 * The `kubectl rollout restart` act step, as the library's playbooks share it: a
 * server-side dry run as the preview, a lock on the Deployment, and verify by kubectl's
 * rollout-status rules. Spread it to add a `when` or override a field.
 *
 * @example
 * .act("restart", rolloutRestartStep({ description: "New pods, same revision.", irreversible: "nothing to undo" }))
 * .act("restart", { ...rolloutRestartStep({ ... }), when: ({ outputs }) => !outputs.rollout.beganWithRollout })
 */
export function rolloutRestartStep(opts: {
  description: string;
  irreversible: string;
  risk?: Risk;
  /** How long verify waits for the rollout (default 5 minutes). */
  rolloutTimeoutMs?: number;
}): ActSpec<DeploymentParams, unknown, Change> {
  const rolloutTimeoutMs = opts.rolloutTimeoutMs ?? 300_000;
  return {
    description: opts.description,
    risk: opts.risk ?? "low",
    permissions: ["apps/deployments:patch"],
    locks: ({ params }) => [`kube:${params.kube}/deployments/${params.namespace}/${params.deployment}`],
    manual: [
      "kubectl -n {namespace} rollout restart deployment/{deployment}",
      `kubectl -n {namespace} rollout status deployment/{deployment} --timeout=${Math.round(rolloutTimeoutMs / 60_000)}m`,
    ],
    preview: async ({ params, targets }) => {
      const c = await targets.kube(params.kube).rolloutRestart(params.namespace, params.deployment, { dryRun: true });
      return { summary: c.summary, diff: c.diff };
    },
    run: ({ params, targets }) => targets.kube(params.kube).rolloutRestart(params.namespace, params.deployment),
    verifyTimeoutMs: rolloutTimeoutMs + 30_000,
    verify: async ({ params, targets, signal }) => {
      const s = await targets.kube(params.kube).waitForRollout(params.namespace, params.deployment, { timeoutMs: rolloutTimeoutMs, signal });
      return { ok: s.done, detail: s.message };
    },
    irreversible: opts.irreversible,
  };
}
