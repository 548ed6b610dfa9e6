/** Small helpers for Slack mrkdwn and Block Kit limits. */

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Cuts text to a Block Kit limit, saying that it did. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 14)}\n… (truncated)`;
}

/** A Slack user id as a mention; anything else (a CLI user, `belay`) as itself. */
export function who(id: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(id) ? `<@${id}>` : `*${esc(id)}*`;
}

export function hhmm(d: Date | string): string {
  return `${new Date(d).toISOString().slice(11, 16)} UTC`;
}

export function codeBlock(text: string, max = 1200): string {
  return `\`\`\`${clip(text.replace(/```/g, "ˋˋˋ"), max)}\`\`\``;
}

export const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text: clip(text, 2900) } });
export const context = (text: string) => ({ type: "context", elements: [{ type: "mrkdwn", text: clip(text, 2900) }] });
export const divider = () => ({ type: "divider" });
export const header = (text: string) => ({ type: "header", text: { type: "plain_text", text: clip(text, 150), emoji: true } });

export const RISK_BADGE = { low: ":large_green_circle: low risk", medium: ":large_yellow_circle: medium risk", high: ":red_circle: high risk" } as const;

export const STEP_MARK: Record<string, string> = {
  pending: ":white_circle:",
  running: ":hourglass_flowing_sand:",
  verifying: ":mag:",
  rolling_back: ":rewind:",
  awaiting_approval: ":raised_hand:",
  succeeded: ":white_check_mark:",
  skipped: ":fast_forward:",
  failed: ":x:",
  rolled_back: ":leftwards_arrow_with_hook:",
  uncertain: ":warning:",
  previewed: ":eyes:",
};

export const RUN_MARK: Record<string, string> = {
  pending: ":white_circle:",
  running: ":hourglass_flowing_sand:",
  waiting: ":lock:",
  awaiting_approval: ":raised_hand:",
  awaiting_decision: ":warning:",
  succeeded: ":white_check_mark:",
  failed: ":x:",
  rolled_back: ":leftwards_arrow_with_hook:",
  aborted: ":no_entry:",
  previewed: ":eyes:",
};
