import type { App, RespondFn } from "@slack/bolt";
import { redactOutgoing } from "../../sinks.ts";
import { RUN_MODAL_CALLBACK } from "../blocks/modal.ts";
import type { SlackContext } from "../context.ts";
import { BUTTON_ACTION_ID } from "./buttons.ts";
import { FORM_OPEN_ACTION } from "./form.ts";

/*
 * Every request Slack sends belay is acknowledged, also the ones no handler of belay's owns:
 * another command name routed to this app, a button from an older message or another version
 * of the app, a legacy attachment (interactive_message) or dialog, a form with an unknown
 * callback id, a shortcut, an options request. Without these listeners Bolt acks nothing and
 * answers 404 after 3 s, which Slack shows as "failed with the error dispatch_failed".
 *
 * Bolt runs every listener whose constraints match, so these catch-alls step aside for what
 * the real listeners claim (the same ids they register with) instead of acking twice.
 *
 * How Bolt 5.1 routes the legacy kinds: an `interactive_message` (attachment buttons) is an
 * action whose payload is `actions[0]`, which has a `name` but no `action_id`, so a listener
 * with an action_id pattern (`app.action(/.+/)`) never sees it; a `dialog_submission` is an
 * action whose payload is the whole body; `dialog_suggestion` (it has a `name`) and
 * `block_suggestion` are options requests. Empty constraints (`{}`) match them all. A
 * payload type Bolt cannot classify reaches no listener; the receiver's fallback
 * (surface.ts) answers it.
 */

/** Whether one of belay's real action listeners owns this action id. */
export function isClaimedAction(actionId: string): boolean {
  return BUTTON_ACTION_ID.test(actionId) || actionId === FORM_OPEN_ACTION;
}

/** Whether one of belay's real view listeners owns this callback id. */
export function isClaimedView(callbackId: string): boolean {
  return callbackId === RUN_MODAL_CALLBACK;
}

/** What the person is told, by what they did. */
export function unhandledText(command: string, what: "button" | "legacy" | "dialog" | "form" | "shortcut"): string {
  switch (what) {
    case "button":
      return `:information_source: That button belongs to an older belay message or another version of the app, so it did nothing. \`${command} status\` shows the runs in progress; \`${command} help\` the commands.`;
    case "legacy":
      return `:information_source: That button is from an old-style attachment belay no longer answers, so it did nothing. \`${command} status\` shows the runs in progress.`;
    case "dialog":
      return `:information_source: That dialog is from an older version of belay, so nothing was done with it. Use \`${command} run <playbook>\` instead.`;
    case "form":
      return `This form is from an older version of belay, so nothing was done with it. Close it and use ${command} again (${command} help lists the commands).`;
    case "shortcut":
      return `belay has no shortcuts; everything it does starts with ${command} (${command} help lists the commands).`;
  }
}

/** A small modal with one line of text (for forms and shortcuts belay does not know). */
function noticeView(text: string) {
  return {
    type: "modal" as const,
    title: { type: "plain_text" as const, text: "belay" },
    close: { type: "plain_text" as const, text: "Close" },
    blocks: [{ type: "section", text: { type: "plain_text", text } }],
  };
}

/** Registered after belay's real listeners (the order does not matter to Bolt, only the claims). */
export function registerUnhandled(app: App, ctx: SlackContext): void {
  const name = ctx.settings.command;
  const log = (kind: string, detail: Record<string, unknown>) => ctx.logger.info({ kind, ...detail }, "acknowledged a Slack request belay does not handle");
  const tell = (respond: RespondFn | undefined, text: string) => {
    if (!respond) return;
    ctx.background("answering an unhandled Slack request", () => respond(redactOutgoing({ response_type: "ephemeral", replace_original: false, text })));
  };

  // A command name other than the configured one (the manifest and slack.command disagree, or another app's command points here).
  app.command(/.*/, async ({ command, ack }) => {
    if (command.command === name) return;
    log("command", { command: command.command.slice(0, 64) });
    await ack(
      redactOutgoing({
        response_type: "ephemeral",
        text: `This belay answers \`${name}\`, not \`${command.command.slice(0, 64)}\`: the Slack app's manifest and \`slack.command\` in BELAY_CONFIG disagree. Try \`${name} help\`.`,
      }),
    );
  });

  // Block actions, legacy attachment buttons (interactive_message) and legacy dialogs: every kind Bolt calls an action.
  app.action({}, async ({ body, payload, ack, respond }) => {
    const type = (body as { type?: string }).type;
    if (type === "block_actions") {
      const actionId = (payload as { action_id?: string }).action_id ?? "";
      if (isClaimedAction(actionId)) return;
      await ack();
      log("block_actions", { actionId: actionId.slice(0, 128) });
      // Link buttons send a click too; they have done their job already.
      if ("url" in (payload as object)) return;
      tell(respond, unhandledText(name, "button"));
      return;
    }
    // An empty ack leaves a legacy message as it was (a body would replace it).
    await ack();
    log(type ?? "action", { callbackId: String((body as { callback_id?: unknown }).callback_id ?? "").slice(0, 128) });
    tell(respond, unhandledText(name, type === "dialog_submission" ? "dialog" : "legacy"));
  });

  // A form submitted with a callback id belay does not know (an older version's form); closed forms are simply acked.
  app.view({}, async ({ body, view, ack }) => {
    if (body.type === "view_submission" && isClaimedView(view.callback_id)) return;
    log(body.type, { callbackId: view.callback_id.slice(0, 128) });
    if (body.type === "view_submission") await ack({ response_action: "update", view: noticeView(unhandledText(name, "form")) } as never);
    else await ack();
  });

  // belay declares no shortcuts: a global one gets a small modal, a message one an ephemeral reply.
  app.shortcut({}, async ({ shortcut, ack, respond, client }) => {
    await ack();
    log(shortcut.type, { callbackId: shortcut.callback_id.slice(0, 128) });
    const text = unhandledText(name, "shortcut");
    if (shortcut.type === "message_action") return tell(respond, text);
    ctx.background("answering a shortcut", async () => {
      // trigger_id is good for 3 s from the click.
      await client.views.open({ trigger_id: shortcut.trigger_id, view: noticeView(text) as never }).catch((err) => ctx.logger.warn({ err }, "views.open for a shortcut failed"));
    });
  });

  // belay offers no external select menus: whatever asks for options gets none.
  app.options({}, async ({ body, ack }) => {
    log((body as { type?: string }).type ?? "options", {});
    await ack({ options: [] });
  });
}
