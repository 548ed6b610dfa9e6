import { z } from "zod";
import type { Engine } from "../execute/engine.ts";
import { systemPrincipal } from "../identity/principal.ts";
import { playbook, type AnyPlaybook } from "../sdk/playbook.ts";
import type { Drill } from "../sdk/drill.ts";

/**
 * A live drill's injection is a change like any other: before it injects, the drill proposes
 * this one-step run, whose single act step is high risk. It is approved (or denied) exactly
 * as any high-risk step is, on any surface, by Principals under the policy, and audited in
 * the chain; the drill injects only once the step has succeeded.
 */
export const DRILL_GATE_PLAYBOOK = "drill-injection";

export const drillGatePlaybook: AnyPlaybook = playbook({
  id: DRILL_GATE_PLAYBOOK,
  title: "DRILL: inject a fault into a live system",
  summary: "The approval a live game-day drill needs before it injects its faults. The drill undoes them when it ends.",
  failureModes: [],
  params: z.object({ drill: z.string(), drillRunId: z.string(), target: z.string(), injections: z.string() }),
}).act("inject", {
  risk: "high",
  permissions: ["drill:inject"],
  locks: { none: "an approval only: it changes nothing itself (the drill guards its own injections)" },
  description: "Approve to let the drill inject the faults below into a real system; it undoes them when it ends (or, after a crash, the next belay does).",
  preview: ({ params }) => `DRILL ${params.drillRunId} (${params.drill}) against ${params.target}:\n${params.injections}`,
  run: () => ({ approved: true }),
  verify: () => true,
  irreversible: "an approval only: the drill itself injects, and always undoes",
});

export type GateOutcome = { approved: true; runId: string; approvedBy: string[] } | { approved: false; runId: string; reason: string };

/**
 * Proposes the gate and waits until it is approved, denied or aborted, the drill is stopped
 * (`stopped` returns why), or `timeoutMs` passes (then belay aborts the gate run).
 */
export async function awaitInjectionApproval(
  engine: Pick<Engine, "propose" | "view" | "decide" | "isTerminal">,
  input: {
    drill: Drill;
    drillRunId: string;
    target: string;
    startedBy: string;
    previews: readonly string[];
    timeoutMs: number;
    clock: () => Date;
    stopped: () => string | null;
    onProposed?: (runId: string) => void;
    pollMs?: number;
  },
): Promise<GateOutcome> {
  const { runId } = await engine.propose({
    playbookId: DRILL_GATE_PLAYBOOK,
    params: { drill: input.drill.id, drillRunId: input.drillRunId, target: input.target, injections: input.previews.map((p) => `- ${p}`).join("\n") },
    requestedBy: input.startedBy,
    surface: "drill",
  });
  input.onProposed?.(runId);
  const until = input.clock().getTime() + input.timeoutMs;
  for (;;) {
    const view = await engine.view(runId);
    if (engine.isTerminal(view.run)) {
      if (view.run.status === "succeeded") {
        return { approved: true, runId, approvedBy: [...new Set(view.approvals.filter((a) => a.planHash === view.run.planHash).map((a) => a.actor))] };
      }
      return { approved: false, runId, reason: `the injection was not approved (${view.run.status}${view.run.statusReason ? `: ${view.run.statusReason}` : ""})` };
    }
    const stop = input.stopped() ?? (input.clock().getTime() > until ? `the injection was not approved within ${Math.round(input.timeoutMs / 1000)} s` : null);
    if (stop) {
      await engine.decide({ kind: "abort", runId, actor: systemPrincipal("drill"), reason: stop });
      return { approved: false, runId, reason: stop };
    }
    await new Promise((r) => setTimeout(r, input.pollMs ?? 250));
  }
}
