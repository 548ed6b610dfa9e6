import { eventsForRun } from "../audit/chain.ts";
import { isBelayError } from "../errors.ts";
import type { ApprovalPolicy } from "../approve/policy.ts";
import type { People } from "../identity/people.ts";
import type { Engine } from "../execute/engine.ts";
import type { MessageBody } from "./publisher.ts";
import type { SlackMessageRow } from "./store.ts";
import type { ActionTokens } from "./tokens.ts";
import { buttonKey, buttonsFor, renderRunMessage, type RunContext } from "./blocks/run.ts";
import { renderIncidentMessage, type IncidentContext, type IncidentRunLine } from "./blocks/incident.ts";
import { runOutcome } from "../execute/outcome.ts";
import { countAlerts } from "../incidents/queries.ts";
import { section } from "./blocks/text.ts";
import { TERMINAL_RUN_STATUSES } from "../store/runs.ts";
import type { RunView } from "../execute/engine.ts";

/** Milliseconds until the first live approval of a step waiting on people lapses; null when none will. */
export function nextLapse(view: RunView, now: Date): number | null {
  const waiting = new Set(view.steps.filter((s) => s.status === "awaiting_approval").map((s) => s.idx));
  let first: number | null = null;
  for (const a of view.approvals) {
    if (!waiting.has(a.stepIdx) || a.planHash !== view.run.planHash) continue;
    const ms = a.expiresAt.getTime() - now.getTime();
    if (ms > 0 && (first === null || ms < first)) first = ms;
  }
  // A timer fires a moment after the lapse, so the render sees it lapsed.
  return first === null ? null : first + 50;
}

/** What the incident's run did, for its thread root; null when there is no run (or it is gone). */
async function incidentRunLine(engine: Engine, runId: string | null): Promise<IncidentRunLine | null> {
  if (!runId) return null;
  const view = await engine.view(runId).catch((err) => {
    if (isBelayError(err, "run.not_found")) return null;
    throw err;
  });
  if (!view) return null;
  const events = await eventsForRun(engine.deps.db, runId);
  return { id: runId, outcome: runOutcome(view.run, view.steps, events), waitingOn: view.steps.find((s) => s.status === "awaiting_approval")?.name ?? null };
}

/** Renders any message belay owns from the store, by its key's kind. */
export function messageRenderer(deps: {
  engine: Engine;
  tokens: ActionTokens;
  policy: ApprovalPolicy;
  clock: () => Date;
  hasExternal: (action: string) => boolean;
  people?: People;
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
      const now = view.dbNow ?? deps.clock(); // approvals expire on the database's clock
      const body = renderRunMessage({ view, events, context: row.context as RunContext, policy: deps.policy, now, tokens, ...(deps.people ? { people: deps.people } : {}) });
      if (TERMINAL_RUN_STATUSES.includes(view.run.status)) return { ...body, final: true };
      // Every change of state is an audit event, but an approval lapses with no event: the
      // message is rendered again then, so it never counts an approval that no longer does.
      const lapse = nextLapse(view, now);
      return lapse === null ? body : { ...body, recheckMs: lapse };
    }
    if (kind === "incident") {
      const stored = row.context as unknown as IncidentContext;
      // The counts as they are now: alerts keep joining after the root was first posted.
      const live = (await countAlerts(deps.engine.deps.db, [stored.incident.id])).get(stored.incident.id);
      const ctx: IncidentContext = live ? { ...stored, alertCount: live } : stored;
      const ackToken =
        ctx.incident.pagerdutyIncidentId && !ctx.resolved && deps.hasExternal("pagerduty.acknowledge")
          ? await deps.tokens.issue({ action: "pagerduty.acknowledge", incidentId: ctx.incident.id })
          : null;
      const body = renderIncidentMessage(ctx, { ackToken, run: await incidentRunLine(deps.engine, ctx.runId) });
      return ctx.resolved ? { ...body, final: true } : body;
    }
    if (kind === "note") {
      const text = String(row.context.text ?? "");
      return { text, blocks: [section(text)], final: true };
    }
    return null;
  };
}
