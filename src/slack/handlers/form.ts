import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { describeError } from "../../errors.ts";
import { paramsModal } from "../blocks/modal.ts";
import type { SlackContext } from "../context.ts";

/**
 * "Propose …" on an incident whose playbook needs a param belay could not fill (which
 * target?): opens the params form, prefilled, with the reason. The button grants nothing:
 * the form proposes as whoever submits it, exactly like `/runbook run`, so its value needs
 * no token. The run belongs to the incident and appears in its thread.
 */
/** The action id of the incident root's "Propose …" button. */
export const FORM_OPEN_ACTION = "belay.form.open";

export function registerForm(app: App, ctx: SlackContext): void {
  app.action<BlockAction<ButtonAction>>(FORM_OPEN_ACTION, async ({ ack, body, action, client }) => {
    await ack();
    let v: { incident?: unknown; playbook?: unknown; params?: unknown; issues?: unknown };
    try {
      v = JSON.parse(action.value ?? "{}");
    } catch {
      v = {};
    }
    const pb = typeof v.playbook === "string" ? ctx.playbooks.get(v.playbook) : undefined;
    const channel = body.channel?.id ?? body.container?.channel_id ?? null;
    if (!pb || !channel) return;
    const params = Object.fromEntries(Object.entries((v.params as Record<string, unknown>) ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"));
    const issues = Array.isArray(v.issues) ? (v.issues as { field: string; message: string }[]).filter((i) => typeof i?.field === "string" && typeof i?.message === "string") : [];
    const threadTs = (body.message?.thread_ts as string | undefined) ?? (body.message?.ts as string | undefined) ?? null;
    const view = paramsModal(pb, { playbook: pb.id, channel, threadTs, incident: typeof v.incident === "string" ? { id: v.incident } : null }, params, issues);
    try {
      // trigger_id is good for 3 s from the click: open the form right after the ack.
      await client.views.open({ trigger_id: body.trigger_id, view: view as never });
    } catch (err) {
      ctx.logger.warn({ err }, "views.open failed");
      await ctx.web.chat.postEphemeral({ channel, user: body.user.id, text: `:warning: Could not open the form (${describeError(err)}). Use \`${ctx.settings.command} run ${pb.id} ${issues.map((i) => `${i.field}=…`).join(" ")}\`.` });
    }
  });
}
