import type { App, RespondFn, SlashCommand } from "@slack/bolt";
import { eventsForIncident, eventsForRun } from "../../audit/chain.ts";
import { refuseDrillStarter } from "../../drills/authority.ts";
import { toTimeline } from "../../audit/timeline.ts";
import { describeError, isBelayError } from "../../errors.ts";
import { bindParams, coerceStrings, paramShape, type ParamIssue } from "../../plan/bind.ts";
import { resolveTargets } from "../../plan/targets.ts";
import { requestRetriage } from "../../incidents/retriage.ts";
import { drillAbortReply, drillListReply, drillStartedReply } from "../../drills/slack.ts";
import { drillReportMarkdown } from "../../drills/report.ts";
import { listDrillRuns, requestDrillAbort } from "../../drills/store.ts";
import { newId } from "../../ids.ts";
import { redactOutgoing } from "../../sinks.ts";
import { buildPostmortem } from "../../postmortem/draft.ts";
import { postmortemReply } from "../../postmortem/slack.ts";
import { listRuns } from "../../store/runs.ts";
import { alertFromText, parseCommand } from "../command.ts";
import type { SlackContext } from "../context.ts";
import { paramsModal, type IncidentLink } from "../blocks/modal.ts";
import { findIncident } from "../store.ts";
import { outcomesOfRuns } from "../../incidents/run-outcomes.ts";
import { auditReply, helpReply, historyReply, listReply, matchReply, reply, showReply, statusReply, type Reply } from "../blocks/replies.ts";

/** Validates raw `key=value` strings against a playbook; the issues, or none. Pure. */
export function checkParams(ctx: SlackContext, playbookId: string, raw: Record<string, string>): ParamIssue[] {
  const pb = ctx.playbooks.get(playbookId)!;
  const targets = resolveTargets(pb, null, ctx.targets ?? {}, raw);
  if (targets.issues.length > 0) return targets.issues;
  try {
    bindParams(pb, coerceStrings(pb.params, targets.params as Record<string, string>));
    return [];
  } catch (err) {
    if (isBelayError(err, "params.invalid")) return err.details as ParamIssue[];
    throw err;
  }
}

function unknownPlaybook(ctx: SlackContext, id: string): Reply {
  const ids = [...ctx.playbooks.keys()].sort();
  const near = ids.filter((k) => k.includes(id) || id.includes(k.split("-")[0]!)).slice(0, 5);
  return reply(`No playbook \`${id}\`.${near.length ? ` Did you mean ${near.map((n) => `\`${n}\``).join(", ")}?` : ""} \`${ctx.settings.command} list\` shows all ${ids.length}.`);
}

/**
 * `/runbook ...`. Every branch acks at once: answers that need no I/O go in the ack itself;
 * the rest ack empty and answer through response_url once the store has been asked.
 */
export function registerCommands(app: App, ctx: SlackContext): void {
  const name = ctx.settings.command;
  app.command(name, async ({ command, ack: rawAck, respond: rawRespond }) => {
    // Acks and response_url answers leave through the sink like every other Slack body.
    const ack: typeof rawAck = (body?: Parameters<typeof rawAck>[0]) => rawAck(redactOutgoing(body));
    const respond: RespondFn = (body) => rawRespond(redactOutgoing(body));
    const cmd = parseCommand(command.text ?? "");
    const later = (label: string, fn: () => Promise<Reply>) =>
      ctx.background(label, async () => {
        let out: Reply;
        try {
          out = await fn();
        } catch (err) {
          ctx.logger.error({ err, command: command.text, user: command.user_id }, `${label} failed`);
          out = reply(isBelayError(err) ? `:warning: ${describeError(err)}` : `:warning: ${label} failed; belay's log has the details.`);
        }
        await respond(out);
      });
    switch (cmd.kind) {
      case "help":
        return ack(helpReply(name));
      case "usage":
        return ack(helpReply(name, cmd.message));
      case "list":
        return ack(listReply([...ctx.playbooks.values()], cmd.query));
      case "show": {
        const pb = ctx.playbooks.get(cmd.playbook);
        return ack(pb ? showReply(pb, name) : unknownPlaybook(ctx, cmd.playbook));
      }
      case "match":
        return ack(matchReply(ctx.matcher.match(alertFromText(cmd.text)), cmd.text, name, cmd.near));
      case "run": {
        if (!ctx.playbooks.has(cmd.playbook)) return ack(unknownPlaybook(ctx, cmd.playbook));
        if (cmd.stray.length > 0) return ack(reply(`Params go as \`key=value\`; I could not read ${cmd.stray.map((s) => `\`${s}\``).join(", ")}.`));
        const link = incidentLink(ctx, cmd.playbook, cmd.params, command);
        const params = link.params;
        const issues = checkParams(ctx, cmd.playbook, params);
        const where = { channel: command.channel_id, threadTs: null, incident: link.incident };
        if (issues.length > 0) {
          await ack();
          // trigger_id is good for 3 s from the click: open the form right after the ack.
          const view = paramsModal(ctx.playbooks.get(cmd.playbook)!, { playbook: cmd.playbook, ...where }, params, issues);
          ctx.background("opening the params form", async () => {
            try {
              await ctx.web.views.open({ trigger_id: command.trigger_id, view: view as never });
            } catch (err) {
              ctx.logger.warn({ err }, "views.open failed");
              await respond(reply(`:warning: Could not open the form (${describeError(err)}). Give the params inline: ${issues.map((i) => `\`${i.field}\`: ${i.message}`).join("; ")}`));
            }
          });
          return;
        }
        await ack(reply(link.incident?.id ? `Proposing \`${cmd.playbook}\` for incident \`${link.incident.id}\`, in its thread…` : `Proposing \`${cmd.playbook}\` here…`));
        return proposeLater(ctx, { playbook: cmd.playbook, params, user: command.user_id, ...where, respond });
      }
      case "status":
        await ack();
        return later("status", async () => {
          if (cmd.runId) return statusReply(await ctx.engine.view(cmd.runId), await eventsForRun(ctx.db, cmd.runId));
          const runs = await listRuns(ctx.db, { limit: 20, statuses: ["pending", "running", "waiting", "awaiting_approval", "awaiting_decision"] });
          return historyReply(runs, "Runs in progress");
        });
      case "history":
        await ack();
        return later("history", async () => {
          const runs = await listRuns(ctx.db, { limit: cmd.limit });
          return historyReply(runs, `Last ${cmd.limit} runs`, await outcomesOfRuns(ctx.db, runs));
        });
      case "audit":
        await ack();
        return later("audit", async () => {
          const events = cmd.subject.startsWith("run_") ? await eventsForRun(ctx.db, cmd.subject) : await eventsForIncident(ctx.db, cmd.subject);
          return auditReply(cmd.subject, toTimeline(events));
        });
      case "retriage":
        await ack();
        return later("retriage", async () => {
          const r = await requestRetriage({ db: ctx.db, clock: ctx.clock, newId }, cmd.incident, { id: command.user_id, surface: "slack" });
          return reply(`Triaging \`${cmd.incident}\` (${r.title}) again; the answer goes to its thread.`);
        });
      case "postmortem":
        await ack();
        return later("postmortem", async () => {
          const r = postmortemReply(await buildPostmortem(ctx.db, cmd.incident, ctx.clock));
          return reply(r.text, r.blocks);
        });
      case "drill": {
        const drills = ctx.drills();
        if (!drills) return ack(reply("DRILL: drills are not available in this belay (they run under `belay serve`, from playbooks/drills/)."));
        if (cmd.action === "list") {
          await ack();
          return later("drill list", async () => {
            const r = drillListReply([...drills.defs.values()], await listDrillRuns(ctx.db, { limit: 50 }));
            return reply(r.text, r.blocks);
          });
        }
        if (cmd.action === "abort") {
          await ack();
          return later("drill abort", async () => reply(drillAbortReply(await requestDrillAbort(ctx.db, cmd.drillRun, command.user_id), command.user_id)));
        }
        const drill = drills.defs.get(cmd.drill);
        if (!drill) return ack(reply(`DRILL: no drill \`${cmd.drill}\`; \`${name} drill list\` shows them.`));
        if (drills.blocked) return ack(reply(`DRILL: cannot start \`${cmd.drill}\`: ${drills.blocked}.`));
        const drillRunId = newId("drl");
        const started = drillStartedReply(drill, drillRunId, command.user_id, cmd.detectWithinS);
        const live = drill.meta.mode === "live";
        // A live drill changes a real system: its starter needs the authority of a high-risk approval (checked after the ack: groups may need Slack).
        await ack(live ? reply(`DRILL: checking that <@${command.user_id}> may start the live drill \`${drill.id}\`…`) : reply(started.text, started.blocks));
        // The drill runs for minutes: its report comes back through response_url when it ends.
        ctx.background(`drill ${drillRunId}`, async () => {
          let out: Reply;
          if (live) {
            const who = await ctx.principalOf({ id: command.user_id, teamId: command.team_id, enterpriseId: command.enterprise_id ?? null });
            const refusal = await refuseDrillStarter({ db: ctx.db, policy: ctx.policy, clock: ctx.clock, newId }, drill, who);
            if (refusal) {
              await respond(reply(`:no_entry_sign: DRILL \`${drill.id}\` not started: ${refusal}`));
              return;
            }
            await respond(reply(started.text, started.blocks));
          }
          try {
            const report = await drills.session.run(drill, {
              startedBy: ctx.people.fromSlack(command.user_id),
              drillRunId,
              ...(cmd.detectWithinS !== undefined ? { detect: { mode: "real" as const, withinS: cmd.detectWithinS } } : {}),
              // The injection's approval is a run message like any other, in the channel the drill was started from.
              onGate: (runId) => ctx.background("showing a drill's injection approval", () => ctx.showRun(runId, { channel: command.channel_id, threadTs: null }, {})),
            });
            const md = drillReportMarkdown(report);
            out = reply(`DRILL ${drillRunId} finished`, [{ type: "section", text: { type: "mrkdwn", text: md.length > 2900 ? `${md.slice(0, 2900)}\n…(full report: \`belay drill report ${drillRunId}\`)` : md } }]);
          } catch (err) {
            ctx.logger.error({ err, drillRunId }, "drill failed");
            out = reply(`:warning: DRILL ${drillRunId} failed: ${describeError(err)}`);
          }
          await respond(out);
        });
        return;
      }
      case "abort":
        await ack();
        return later("abort", async () => {
          const actor = await ctx.principalOf({ id: command.user_id, teamId: command.team_id, enterpriseId: command.enterprise_id ?? null });
          const r = await ctx.engine.decide({ kind: "abort", runId: cmd.runId, actor, ...(cmd.reason ? { reason: cmd.reason } : {}) });
          return reply(r.accepted ? `:no_entry: ${r.message}` : `:no_entry_sign: Refused: ${r.message}`);
        });
    }
  });
}

/**
 * `incident=<id>` on `run` links the run to an incident (unless the playbook has a param of
 * that name): its message goes to the incident's thread and the incident's resolution names
 * it. Slack does not say which thread a slash command was typed in; when a payload does carry
 * `thread_ts`, the incident whose root that is is used.
 */
function incidentLink(ctx: SlackContext, playbookId: string, raw: Record<string, string>, command: SlashCommand): { params: Record<string, string>; incident: IncidentLink | null } {
  const pb = ctx.playbooks.get(playbookId)!;
  const { incident, ...rest } = raw;
  if (incident !== undefined && !Object.hasOwn(paramShape(pb.params), "incident")) return { params: rest, incident: { id: incident } };
  const threadTs = (command as unknown as { thread_ts?: unknown }).thread_ts;
  return { params: raw, incident: typeof threadTs === "string" ? { thread: { channel: command.channel_id, ts: threadTs } } : null };
}

/** Proposes a run after the ack and shows its message where it was asked for (an incident's thread, when linked to one). */
export function proposeLater(
  ctx: SlackContext,
  p: { playbook: string; params: Record<string, string>; user: string; channel: string; threadTs: string | null; incident?: IncidentLink | null; respond?: RespondFn },
): void {
  ctx.background("proposing a run", async () => {
    try {
      const pb = ctx.playbooks.get(p.playbook)!;
      const incident = p.incident ? await findIncident(ctx.db, p.incident) : null;
      if (p.incident?.id && !incident) {
        const text = `:warning: No incident \`${p.incident.id}\`; incident ids look like \`inc_…\` (the thread root shows it). Nothing was proposed.`;
        if (p.respond) await p.respond(reply(text));
        else await ctx.web.chat.postEphemeral({ channel: p.channel, user: p.user, text });
        return;
      }
      const params = resolveTargets(pb, null, ctx.targets ?? {}, p.params).params as Record<string, string>;
      const { runId } = await ctx.engine.propose({
        playbookId: p.playbook,
        params: coerceStrings(pb.params, params),
        // The requester is a person, so the same person at a terminal is still the requester.
        requestedBy: ctx.people.fromSlack(p.user),
        surface: "slack",
        ...(incident ? { incidentId: incident.id } : {}),
      });
      const where = incident?.slackChannel && incident.slackTs ? { channel: incident.slackChannel, threadTs: incident.slackTs } : { channel: p.channel, threadTs: p.threadTs };
      await ctx.showRun(runId, where, incident ? { incident: { id: incident.id, title: incident.title, service: incident.service, drill: incident.drill } } : {});
    } catch (err) {
      ctx.logger.error({ err, playbook: p.playbook }, "proposing a run from Slack failed");
      const text = `:warning: Could not propose \`${p.playbook}\`: ${isBelayError(err) ? describeError(err) : "belay's log has the details"}`;
      if (p.respond) await p.respond(reply(text));
      else await ctx.web.chat.postEphemeral({ channel: p.channel, user: p.user, text });
    }
  });
}

export type { SlashCommand };
