import type { Risk } from "../approve/policy.ts";
import type { Change, KubeUndo } from "../targets/types.ts";
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
    // The patch reads the Deployment first (for the diff); verify reads it until the rollout is done.
    permissions: ["apps/deployments:get", "apps/deployments:patch"],
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

/**
 * The `kubectl rollout undo` act step: the preview is a server-side dry run naming the
 * revision it goes back to, `run` goes to exactly that revision, verify waits for the
 * rollout, and the rollback returns to the revision it came from. The target revision is
 * the previous one, or `params.toRevision` when the playbook has that param.
 *
 * @example
 * .act("undo", { ...rolloutUndoStep({ description: "Back to the previous revision." }), when: ({ outputs }) => !outputs.status.done })
 */
export function rolloutUndoStep(opts: {
  description: string;
  risk?: Risk;
  rolloutTimeoutMs?: number;
}): ActSpec<DeploymentParams & { toRevision?: number }, unknown, KubeUndo> {
  const rolloutTimeoutMs = opts.rolloutTimeoutMs ?? 300_000;
  return {
    description: opts.description,
    risk: opts.risk ?? "medium",
    permissions: ["apps/deployments:get", "apps/replicasets:list", "apps/deployments:patch"],
    locks: ({ params }) => [`kube:${params.kube}/deployments/${params.namespace}/${params.deployment}`],
    manual: [
      "kubectl -n {namespace} rollout undo deployment/{deployment}",
      `kubectl -n {namespace} rollout status deployment/{deployment} --timeout=${Math.round(rolloutTimeoutMs / 60_000)}m`,
    ],
    preview: async ({ params, targets }) => {
      const c = await targets.kube(params.kube).rolloutUndo(params.namespace, params.deployment, { dryRun: true, ...(params.toRevision ? { toRevision: params.toRevision } : {}) });
      return { summary: c.summary, diff: c.diff, data: { toRevision: c.toRevision } };
    },
    // Exactly the revision the preview named, even if another rollout happened since.
    run: ({ params, targets, previewData }) =>
      targets.kube(params.kube).rolloutUndo(params.namespace, params.deployment, { toRevision: (previewData as { toRevision: number }).toRevision }),
    verifyTimeoutMs: rolloutTimeoutMs + 30_000,
    verify: async ({ params, targets, signal }) => {
      const s = await targets.kube(params.kube).waitForRollout(params.namespace, params.deployment, { timeoutMs: rolloutTimeoutMs, signal });
      return { ok: s.done, detail: s.message };
    },
    rollback: ({ params, targets, result }) =>
      result.fromRevision === null ? undefined : targets.kube(params.kube).rolloutUndo(params.namespace, params.deployment, { toRevision: result.fromRevision }),
  };
}
