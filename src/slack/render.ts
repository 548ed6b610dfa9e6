import { eventsForRun } from "../audit/chain.ts";
import { isBelayError } from "../errors.ts";
import type { ApprovalPolicy } from "../approve/policy.ts";
import type { Engine } from "../execute/engine.ts";
import type { MessageBody } from "./publisher.ts";
import type { SlackMessageRow } from "./store.ts";
import type { ActionTokens } from "./tokens.ts";
import { buttonKey, buttonsFor, renderRunMessage, type RunContext } from "./blocks/run.ts";
import { renderIncidentMessage, type IncidentContext } from "./blocks/incident.ts";
import { section } from "./blocks/text.ts";

/** Renders any message belay owns from the store, by its key's kind. */
export function messageRenderer(deps: {
  engine: Engine;
  tokens: ActionTokens;
  policy: ApprovalPolicy;
  clock: () => Date;
  hasExternal: (action: string) => boolean;
  /** How soon a message of a run that is still moving is rendered again. */
  recheckMs: number;
}): (row: SlackMessageRow) => Promise<MessageBody | null> {
  return async (row) => {
    const [kind] = row.key.split(":");
    if (kind === "run" && row.runId) {
      const view = await deps.engine.view(row.runId).catch((err) => {
        if (isBelayError(err, "run.not_found")) return null;
        throw err;
      });
      if (!view) return null;
      const events = await eventsForRun(deps.engine.deps.db, row.runId);
      const tokens = new Map<string, string>();
      for (const b of buttonsFor(view)) tokens.set(buttonKey(b.action, b.stepIdx), await deps.tokens.issue(b));
      const body = renderRunMessage({ view, events, context: row.context as RunContext, policy: deps.policy, now: deps.clock(), tokens });
      const moving = ["pending", "running", "waiting"].includes(view.run.status);
      return moving ? { ...body, recheckMs: deps.recheckMs } : body;
    }
    if (kind === "incident") {
      const ctx = row.context as unknown as IncidentContext;
      const ackToken =
        ctx.incident.pagerdutyIncidentId && !ctx.resolved && deps.hasExternal("pagerduty.acknowledge")
          ? await deps.tokens.issue({ action: "pagerduty.acknowledge", incidentId: ctx.incident.id })
          : null;
      return renderIncidentMessage(ctx, { ackToken });
    }
    if (kind === "note") {
      const text = String(row.context.text ?? "");
      return { text, blocks: [section(text)] };
    }
    return null;
  };
}
