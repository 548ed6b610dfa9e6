import type { Drill } from "../sdk/drill.ts";
import type { DrillRunRecord } from "./store.ts";

/* Slack replies for `/runbook drill list|start ID|abort`: plain inputs in, Block Kit out. DRILL everywhere. */

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });

export function drillListReply(drills: readonly Drill[], recent: readonly DrillRunRecord[]): { text: string; blocks: object[] } {
  const last = new Map<string, DrillRunRecord>();
  for (const r of recent) if (!last.has(r.drillId)) last.set(r.drillId, r);
  const blocks: object[] = [section(`:performing_arts: *DRILL* — ${drills.length} game-day drills. Start one with \`/runbook drill start ID\`; stop it with \`/runbook drill abort\`.`)];
  for (const d of drills) {
    const r = last.get(d.id);
    blocks.push(
      section(
        `*${esc(d.id)}* — ${esc(d.meta.title)} ${d.meta.mode === "rehearsal" ? "_(REHEARSAL: effects simulated)_" : "_(live)_"}\n${esc(d.meta.hypothesis)}` +
          (r ? `\nLast run \`${r.id}\`: ${r.status}` : ""),
      ),
    );
  }
  return { text: `DRILL: ${drills.length} drills`, blocks };
}

export function drillStartedReply(drill: Drill, drillRunId: string, user: string, detectWithinS?: number): { text: string; blocks: object[] } {
  const follows =
    detectWithinS === undefined
      ? "The DRILL alert and its proposal follow in the incident channel."
      : `No DRILL alert is sent: your monitoring has ${detectWithinS} s to fire its own alert about the target (it is routed as any real alert is); its incident and proposal follow in the incident channel.`;
  const text = `:performing_arts: *DRILL* \`${drillRunId}\` started by <@${user}>: *${esc(drill.meta.title)}*${drill.meta.mode === "rehearsal" ? " (REHEARSAL: effects simulated)" : ""}\n> ${esc(drill.meta.hypothesis)}\n${follows} Stop it with \`/runbook drill abort ${drillRunId}\`.`;
  return { text: `DRILL ${drillRunId} started: ${drill.meta.title}`, blocks: [section(text)] };
}

export function drillAbortReply(stopped: readonly DrillRunRecord[], user: string): string {
  if (stopped.length === 0) return "DRILL: no drill is running.";
  return stopped.map((r) => `:octagonal_sign: DRILL \`${r.id}\` (${r.drillId}): abort requested by <@${user}>; its injection is undone on the runner's next tick.`).join("\n");
}
