import { canonicalJson, sha256Hex } from "../audit/canonical.ts";
import type { Risk } from "../approve/policy.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { StepDef, StepKind } from "../sdk/types.ts";

/** One step of a plan, as shown before anything runs. */
export interface PlannedStep {
  idx: number;
  name: string;
  kind: StepKind;
  description: string;
  risk: Risk | null;
  permissions: readonly string[];
  /** Null until the step's inputs are known (it reads outputs of steps that have not run). */
  preview: string | null;
  rollback: "rollback" | { irreversible: string } | null;
}

export interface Plan {
  playbook: string;
  fingerprint: string;
  params: Record<string, unknown>;
  steps: PlannedStep[];
  hash: string;
}

/** Hashes of the files playbooks were loaded from (see registry.ts). */
const sourceHashes = new WeakMap<AnyPlaybook, string>();

export function recordPlaybookSource(pb: AnyPlaybook, fileText: string): void {
  sourceHashes.set(pb, sha256Hex(fileText));
}

/**
 * A fingerprint of the playbook: its steps' names, kinds, risks, permissions and timeouts,
 * and the hash of the file it was loaded from. A deploy that changes a playbook changes it,
 * so a run proposed under the old code stops instead of carrying on under the new. (Function
 * source text is not used: it differs between transpilers for the same file.)
 */
export function playbookFingerprint(pb: AnyPlaybook): string {
  return sha256Hex(
    canonicalJson({
      id: pb.id,
      source: sourceHashes.get(pb) ?? null,
      steps: pb.steps.map((s: StepDef) => ({
        name: s.name,
        kind: s.kind,
        risk: s.risk,
        permissions: s.permissions,
        timeoutMs: s.timeoutMs,
        verifyTimeoutMs: s.verifyTimeoutMs,
        irreversible: s.irreversible,
        hasRollback: s.rollback !== null,
        conditional: s.when !== null,
      })),
    }),
  );
}

/** The plan's hash binds approvals: same playbook code, same params, same previews. */
export function planHash(p: Omit<Plan, "hash">): string {
  return sha256Hex(
    canonicalJson({
      playbook: p.playbook,
      fingerprint: p.fingerprint,
      params: p.params,
      steps: p.steps.map((s) => ({ name: s.name, kind: s.kind, risk: s.risk, permissions: s.permissions, preview: s.preview })),
    }),
  );
}

/** The whole plan up front. `previews` holds whatever previews are known so far, by step index. */
export function buildPlan(pb: AnyPlaybook, params: Record<string, unknown>, previews: ReadonlyMap<number, string> = new Map()): Plan {
  const steps: PlannedStep[] = pb.steps.map((s, idx) => ({
    idx,
    name: s.name,
    kind: s.kind,
    description: s.description,
    risk: s.risk,
    permissions: s.permissions,
    preview: previews.get(idx) ?? null,
    rollback: s.kind !== "act" ? null : s.rollback ? "rollback" : { irreversible: s.irreversible ?? "" },
  }));
  const base = { playbook: pb.id, fingerprint: playbookFingerprint(pb), params, steps };
  return { ...base, hash: planHash(base) };
}

/** Every permission a playbook needs, derived without running anything. */
export function permissionsOf(pb: AnyPlaybook): string[] {
  return [...new Set(pb.steps.flatMap((s) => s.permissions))].sort();
}
