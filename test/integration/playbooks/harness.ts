import type { Engine, RunView } from "../../../src/execute/engine.ts";
import type { Principal } from "../../../src/identity/index.ts";
import { personAt } from "../../helpers/engine.ts";

export const requester: Principal = personAt("alice");
export const approvers: Principal[] = [personAt("bob"), personAt("carol")];

export interface Finished {
  runId: string;
  view: RunView;
  /** Preview text of each act step, as shown to approvers. */
  previews: Record<string, string>;
  /** Each time a run stopped for approval: which step, and what had happened before the approval. */
  gates: { step: string; before: unknown }[];
}

/**
 * Proposes a run and drives it to the end with scripted approvals: at each step waiting on a
 * human, `beforeApprove` runs (to assert nothing mutated yet), then bob and carol approve the
 * plan hash they were shown. `deny` lists steps to refuse instead.
 */
export async function runWithApprovals(
  engine: Engine,
  playbookId: string,
  params: Record<string, unknown>,
  opts: { beforeApprove?: (step: string) => unknown | Promise<unknown>; deny?: string[] } = {},
): Promise<Finished> {
  const { runId } = await engine.propose({ playbookId, params, requestedBy: requester.person, surface: "cli" });
  const previews: Record<string, string> = {};
  const gates: { step: string; before: unknown }[] = [];
  let view = await engine.drive(runId);
  for (let guard = 0; view.run.status === "awaiting_approval" && guard < 20; guard++) {
    const step = view.steps.find((s) => s.status === "awaiting_approval");
    if (!step) break;
    previews[step.name] = step.preview ?? "";
    gates.push({ step: step.name, before: await opts.beforeApprove?.(step.name) });
    if (opts.deny?.includes(step.name)) {
      await engine.decide({ kind: "deny", runId, step: step.name, actor: approvers[0]!, reason: "test denies" });
    } else {
      for (const actor of approvers) {
        const r = await engine.decide({ kind: "approve", runId, step: step.name, actor, planHash: view.run.planHash });
        if (!r.accepted) throw new Error(`approval of ${step.name} refused: ${r.message}`);
        if (r.resumed) break;
      }
    }
    view = await engine.drive(runId);
  }
  return { runId, view, previews, gates };
}

export function stepStatuses(view: RunView): Record<string, string> {
  return Object.fromEntries(view.steps.map((s) => [s.name, s.status]));
}

export function output<T = any>(view: RunView, step: string): T {
  return view.steps.find((s) => s.name === step)?.output as T;
}
