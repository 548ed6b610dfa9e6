import { outcomeLine } from "../execute/outcome.ts";
import { newId } from "../ids.ts";
import type { IncidentRunOutcome } from "../incidents/run-outcomes.ts";
import { esc, who } from "./blocks/text.ts";
import type { IncidentNotifier, IncidentRef, ThreadRef, TriageReport } from "../surfaces.ts";
import type { SlackContext } from "./context.ts";
import { incidentContext, runContextFromTriage } from "./blocks/incident.ts";
import { getMessage, mergeMessageContext, messagesForRuns } from "./store.ts";

/** The resolution note: what resolved, what each of the incident's runs did (the fix named as such), what was withdrawn. */
export function resolutionText(incident: IncidentRef, withdrawnRunIds: readonly string[], runs: readonly IncidentRunOutcome[]): string {
  const withdrawn = new Set(withdrawnRunIds);
  const lines = runs
    .filter((r) => !withdrawn.has(r.runId))
    .map((r) => `• \`${r.runId}\` \`${esc(r.playbookId)}\` by ${who(r.requestedBy)}: ${r.outcome.fixed ? "*fixed* — " : ""}${esc(outcomeLine(r.outcome, 2))}`);
  return (
    `:white_check_mark: All alerts of *${incident.title}* resolved.` +
    `${withdrawnRunIds.length ? ` Proposals withdrawn: ${withdrawnRunIds.map((r) => `\`${r}\``).join(", ")}.` : ""}` +
    `${lines.length ? `\nRuns for this incident:\n${lines.join("\n")}` : ""}`
  );
}

/** How long postTriage waits for the thread root before handing the rest to the background. */
const ROOT_WAIT_MS = 5_000;

function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve("timeout"), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/**
 * One thread per incident in `slack.channel`: the root says what fired and what belay
 * thinks it is; the proposal (with its buttons) is the first reply. Posting goes through
 * the publisher, so it is paced, retried and never doubled.
 */
export function slackNotifier(ctx: SlackContext): IncidentNotifier & { notify(run: { id: string; incidentId: string | null }, message: string): Promise<void> } {
  const rootKey = (id: string) => `incident:${id}`;

  async function postRunInThread(report: TriageReport, channel: string, rootTs: string): Promise<void> {
    if (report.runId) await ctx.showRun(report.runId, { channel, threadTs: rootTs }, runContextFromTriage(report));
  }

  return {
    async postTriage(report: TriageReport): Promise<ThreadRef | null> {
      const channel = ctx.settings.channel;
      if (!channel) {
        ctx.logger.warn({ incident: report.incident.id }, "no slack.channel configured: incident triage is not posted to Slack");
        return null;
      }
      const key = rootKey(report.incident.id);
      const { posted } = await ctx.publisher.show({ key, channel, threadTs: null, runId: null, context: incidentContext(report) as never });
      if (!posted) {
        await mergeMessageContext(ctx.db, key, incidentContext(report) as never, ctx.clock());
        ctx.publisher.refresh({ key, channel });
      }
      const row = await getMessage(ctx.db, key);
      const where = row?.channel ?? channel;
      const ts = await within(ctx.publisher.posted(key), ROOT_WAIT_MS);
      if (ts === "timeout") {
        // Slack is slow or down: the thread appears when it answers; nothing is lost.
        ctx.background("posting a triage thread", async () => {
          const late = await ctx.publisher.posted(key);
          if (late) await postRunInThread(report, where, late);
        });
        return null;
      }
      if (!ts) return null;
      await postRunInThread(report, where, ts);
      return { channel: where, ts };
    },

    async postResolved(incident: IncidentRef, withdrawnRunIds: readonly string[], runs: readonly IncidentRunOutcome[] = []): Promise<void> {
      const key = rootKey(incident.id);
      const row = await getMessage(ctx.db, key);
      if (!row) return;
      await mergeMessageContext(ctx.db, key, { resolved: true, withdrawn: [...withdrawnRunIds] }, ctx.clock());
      ctx.publisher.refresh(row);
      for (const m of await messagesForRuns(ctx.db, withdrawnRunIds)) ctx.publisher.refresh(m);
      ctx.background("posting a resolution", async () => {
        const ts = await ctx.publisher.posted(key);
        if (!ts) return;
        const text = resolutionText(incident, withdrawnRunIds, runs);
        await ctx.publisher.show({ key: `note:resolved:${incident.id}`, channel: row.channel, threadTs: ts, runId: null, context: { text } });
      });
    },

    /** A note in the incident's thread; nothing when the incident has no thread. */
    async postNote(incident: IncidentRef, text: string): Promise<void> {
      const row = await getMessage(ctx.db, rootKey(incident.id));
      if (!row) return;
      const ts = await ctx.publisher.posted(row.key);
      if (!ts) return;
      await ctx.publisher.show({ key: `note:${newId("ntf")}`, channel: row.channel, threadTs: ts, runId: null, context: { text } });
    },

    /** A notify step's message: in the run's thread, or the incident channel. */
    async notify(run, message) {
      const [m] = await messagesForRuns(ctx.db, [run.id]);
      const channel = m?.channel ?? ctx.settings.channel;
      if (!channel) {
        ctx.logger.info({ runId: run.id, message }, "notify step: the run has no Slack message and no slack.channel is configured");
        return;
      }
      const threadTs = m ? (m.threadTs ?? (await ctx.publisher.posted(m.key))) : null;
      await ctx.publisher.show({ key: `note:${newId("ntf")}`, channel, threadTs, runId: null, context: { text: `:speech_balloon: \`${run.id}\`: ${message}` } });
    },
  };
}
