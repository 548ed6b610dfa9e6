import type { App } from "@slack/bolt";
import type { SlackContext } from "../context.ts";
import { modalErrors, parseModalMeta, readModalValues, RUN_MODAL_CALLBACK } from "../blocks/modal.ts";
import { checkParams, proposeLater } from "./commands.ts";

/**
 * The params form. Validation is the playbook's zod schema, run in the ack (it is pure):
 * errors go back onto their fields with `response_action: "errors"`; a valid form closes
 * and the run is proposed after the ack.
 */
export function registerModal(app: App, ctx: SlackContext): void {
  app.view(RUN_MODAL_CALLBACK, async ({ ack, body, view }) => {
    const meta = parseModalMeta(view.private_metadata);
    const pb = meta ? ctx.playbooks.get(meta.playbook) : undefined;
    if (!meta || !pb) {
      const first = view.blocks.find((b) => b.type === "input")?.block_id;
      await ack(first ? { response_action: "errors", errors: { [first]: "This form is out of date (the playbook is no longer loaded); close it and run the command again." } } : undefined);
      return;
    }
    const raw = readModalValues(pb, view.state as never);
    const issues = checkParams(ctx, pb.id, raw);
    if (issues.length > 0) {
      await ack({ response_action: "errors", errors: modalErrors(pb, issues) });
      return;
    }
    await ack();
    proposeLater(ctx, { playbook: pb.id, params: raw, user: body.user.id, channel: meta.channel, threadTs: meta.threadTs, incident: meta.incident ?? null });
  });
}
