import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { mayApprove } from "../../approve/policy.ts";
import { appendAudit } from "../../audit/chain.ts";
import type { Decision } from "../../execute/decisions.ts";
import { describeError } from "../../errors.ts";
import { newId } from "../../ids.ts";
import type { SlackContext } from "../context.ts";
import { claimTokenUse, messagesForRuns, releaseTokenUse, type ActionTokenRow } from "../store.ts";

/** `belay.<action>.<anything>`: the action id only routes; the token decides what happens. */
export const BUTTON_ACTION_ID = /^belay\.(approve|skip|retry|abort|pagerduty\.acknowledge)(\.|$)/;

const VERB: Record<string, string> = { approve: "approved", skip: "skipped", retry: "retried", abort: "aborted", "pagerduty.acknowledge": "acknowledged" };

interface Click {
  user: string;
  teamId: string | null;
  enterpriseId: string | null;
  channel: string | null;
  threadTs: string | null;
  actionId: string;
  value: unknown;
}

/**
 * Approve, Skip, Retry, Abort (and buttons other surfaces register). The click is acked
 * before anything is looked up; the decision is the engine's, from the store.
 */
export function registerButtons(app: App, ctx: SlackContext): void {
  app.action<BlockAction<ButtonAction>>(BUTTON_ACTION_ID, async ({ ack, body, action }) => {
    await ack();
    const click: Click = {
      user: body.user.id,
      teamId: body.team?.id ?? null,
      enterpriseId: body.enterprise?.id ?? null,
      channel: body.channel?.id ?? body.container?.channel_id ?? null,
      threadTs: (body.message?.thread_ts as string | undefined) ?? null,
      actionId: action.action_id,
      value: action.value,
    };
    ctx.background("handling a button", () => handleClick(ctx, click));
  });
}

async function tell(ctx: SlackContext, c: Click, text: string): Promise<void> {
  if (!c.channel) return;
  await ctx.web.chat.postEphemeral({ channel: c.channel, user: c.user, text, ...(c.threadTs ? { thread_ts: c.threadTs } : {}) });
}

/** Refusals that never reach the engine are audited here, so the trail shows every attempt. */
async function auditRefusal(ctx: SlackContext, c: Click, code: string, reason: string, token: ActionTokenRow | null): Promise<void> {
  const now = ctx.clock();
  await ctx.db.transaction((tx) =>
    appendAudit(
      tx,
      [
        {
          kind: "approval.refused",
          actor: ctx.people.fromSlack(c.user),
          surface: "slack",
          runId: token?.runId ?? null,
          incidentId: token?.incidentId ?? null,
          step: null,
          data: { decision: BUTTON_ACTION_ID.exec(c.actionId)?.[1] ?? "unknown", code, reason, stepIdx: token?.stepIdx ?? null },
        },
      ],
      { now, newId: () => newId("evt") },
    ),
  );
}

export async function handleClick(ctx: SlackContext, c: Click): Promise<void> {
  const resolved = await ctx.tokens.resolve(c.value);
  const routed = BUTTON_ACTION_ID.exec(c.actionId)?.[1];
  if (!resolved.ok) {
    const expired = resolved.code === "expired";
    const why = expired ? "these buttons have expired" : "this button was not issued by belay";
    await auditRefusal(ctx, c, expired ? "button_expired" : "forged_button", why, resolved.token);
    if (expired && resolved.token.runId) await refreshRun(ctx, resolved.token.runId);
    await tell(ctx, c, expired ? ":hourglass: These buttons have expired; the message now has fresh ones. Review it and click again." : ":no_entry_sign: That button was not issued by belay (or was tampered with); nothing was done.");
    return;
  }
  const token = resolved.token;
  if (routed !== token.action) {
    await auditRefusal(ctx, c, "forged_button", `action id ${c.actionId} does not match the button's token`, token);
    await tell(ctx, c, ":no_entry_sign: That button was tampered with; nothing was done.");
    return;
  }
  // An approval lapses after the policy's expiry; the same person may then give it again with the same button.
  const renewableAfterMs = token.action === "approve" ? ctx.policy.expiresAfterSeconds * 1000 : null;
  if (!(await claimTokenUse(ctx.db, token.token, c.user, renewableAfterMs))) {
    // A second click of the same button by the same person, or a replayed request: it counts once.
    await auditRefusal(ctx, c, "replayed", `${c.user} already used this ${token.action} button`, token);
    await tell(ctx, c, `:information_source: You already clicked this; it counts once.`);
    return;
  }
  const actor = await ctx.principalOf({ id: c.user, teamId: c.teamId, enterpriseId: c.enterpriseId });
  if (token.action === "pagerduty.acknowledge") {
    // Acknowledging stops the page for everyone: it needs the authority of an approval (low risk unless configured).
    const risk = ctx.settings.acknowledgeRisk ?? "low";
    if (!mayApprove(ctx.policy, risk, actor)) {
      await releaseTokenUse(ctx.db, token.token, c.user);
      const why = `${actor.person} may not acknowledge PagerDuty incidents: that needs the authority to approve ${risk}-risk steps (pagerduty.acknowledgeRisk)`;
      await auditRefusal(ctx, c, "not_an_approver", why, token);
      await tell(ctx, c, `:no_entry_sign: Not acknowledged: ${why}.`);
      return;
    }
    const handler = ctx.external.get(token.action);
    const said = handler ? await handler({ action: token.action, incidentId: token.incidentId, runId: token.runId, userId: c.user, principal: actor, channel: c.channel }) : "nothing handles this button in this belay";
    if (said) await tell(ctx, c, said);
    return;
  }
  const runId = token.runId!;
  const step = token.stepIdx!;
  const decision: Decision =
    token.action === "approve"
      ? { kind: "approve", runId, step, actor, planHash: token.planHash! }
      : token.action === "skip"
        ? { kind: "skip", runId, step, actor }
        : token.action === "retry"
          ? { kind: "retry", runId, step, actor }
          : { kind: "abort", runId, actor };
  let result: Awaited<ReturnType<typeof ctx.engine.decide>>;
  try {
    result = await ctx.engine.decide(decision);
  } catch (err) {
    // Nothing was recorded (the decision is one transaction): give the use back and say so.
    ctx.logger.error({ err, runId, action: token.action, user: c.user }, "a decision from Slack could not be recorded");
    await releaseTokenUse(ctx.db, token.token, c.user).catch((e) => ctx.logger.error({ err: e }, "giving back a button use failed"));
    await tell(ctx, c, `:warning: Not ${VERB[token.action]}: belay could not record it (${describeError(err)}); nothing was done. Click again in a moment.`);
    return;
  }
  if (!result.accepted) {
    // The engine audited the refusal. The use is given back: the person may be allowed later.
    await releaseTokenUse(ctx.db, token.token, c.user);
    await tell(ctx, c, `:no_entry_sign: Not ${VERB[token.action]}: ${result.message}`);
    if (result.code === "plan_changed") await refreshRun(ctx, runId);
    return;
  }
  ctx.logger.info({ runId, action: token.action, user: c.user }, result.message);
}

async function refreshRun(ctx: SlackContext, runId: string): Promise<void> {
  for (const m of await messagesForRuns(ctx.db, [runId])) ctx.publisher.refresh(m);
}
