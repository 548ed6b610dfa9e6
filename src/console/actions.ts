import { z } from "zod";
import type { Decision, DecisionResult } from "../execute/decisions.ts";
import type { Engine } from "../execute/engine.ts";
import type { Principal } from "../identity/principal.ts";

/** A decision form as the run page posts it. The person comes from the session, never from the form. */
const formSchema = z.object({
  action: z.enum(["approve", "deny", "skip", "retry", "abort"]),
  step: z.string().regex(/^\d{1,4}$/, "must be a step number").optional(),
  planHash: z.string().regex(/^[0-9a-f]{16,128}$/, "must be the plan hash the page showed").optional(),
  reason: z.string().max(500, "must be at most 500 characters").optional(),
  /** The page the form was on (only an incident's page is honoured; the run's page is the default). */
  back: z.string().max(300).optional(),
});

export type DecisionForm = z.infer<typeof formSchema>;

/** The form as a Decision for the engine, or what is wrong with it (one line). */
export function decisionFromForm(runId: string, actor: Principal, form: Record<string, unknown>): { decision: Decision } | { invalid: string } {
  const parsed = formSchema.safeParse(Object.fromEntries(Object.entries(form).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    return { invalid: `the form's ${i.path.join(".") || "fields"} ${i.message}; reload the page and try again` };
  }
  const f = parsed.data;
  const reason = f.reason?.trim() || undefined;
  if (f.action === "abort") return { decision: { kind: "abort", runId, actor, ...(reason ? { reason } : {}) } };
  if (f.step === undefined) return { invalid: `${f.action} needs the step it is about; reload the page and use the step's own button` };
  const step = Number(f.step);
  switch (f.action) {
    case "approve":
      // Bound to the plan the page showed: if the plan changed since, the engine refuses.
      if (!f.planHash) return { invalid: "an approval needs the plan hash the page showed; reload the page and approve again" };
      return { decision: { kind: "approve", runId, step, actor, planHash: f.planHash } };
    case "deny":
      return { decision: { kind: "deny", runId, step, actor, ...(reason ? { reason } : {}) } };
    case "skip":
      return { decision: { kind: "skip", runId, step, actor, ...(reason ? { reason } : {}) } };
    case "retry":
      return { decision: { kind: "retry", runId, step, actor } };
  }
}

/** The engine's decide path, exactly as Slack and the CLI take it: policy, plan binding and audit are the engine's. */
export async function decideFromConsole(engine: Pick<Engine, "decide">, decision: Decision): Promise<DecisionResult> {
  return engine.decide(decision);
}
