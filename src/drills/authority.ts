import { breakGlassRefusal, mayApprove, type ApprovalPolicy } from "../approve/policy.ts";
import { appendAudit } from "../audit/chain.ts";
import { principalAudit, type Principal } from "../identity/principal.ts";
import type { Drill } from "../sdk/drill.ts";
import type { Db } from "../store/driver.ts";

/**
 * Whether this person may start this drill: a live drill injects a fault into a real system,
 * so its starter needs the authority to approve high-risk steps. A refusal is audited
 * (`drill.refused`) and returned in words; null when the drill may start.
 */
export async function refuseDrillStarter(
  deps: { db: Db; policy: ApprovalPolicy; clock: () => Date; newId: (prefix: string) => string },
  drill: Drill,
  who: Principal,
): Promise<string | null> {
  if (drill.meta.mode !== "live") return null;
  const glass = breakGlassRefusal(deps.policy, who);
  if (!glass && mayApprove(deps.policy, "high", who)) return null;
  const reason = glass?.reason ?? `${who.person} may not start live drill ${drill.id}: it injects a fault into a real system, which needs the authority to approve high-risk steps`;
  await deps.db.transaction((tx) =>
    appendAudit(
      tx,
      [{ kind: "drill.refused", actor: who.person, surface: who.surface, data: { drill: drill.id, target: drill.meta.target, code: glass?.code ?? "not_an_approver", reason, principal: principalAudit(who) } }],
      { now: deps.clock(), newId: () => deps.newId("evt") },
    ),
  );
  return reason;
}
