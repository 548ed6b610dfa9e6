import type { Config } from "../config.ts";
import { silentLogger } from "../execute/deps.ts";
import { principalFromTerminal, type Principal } from "../identity/principal.ts";
import type { CliIo } from "./io.ts";

/**
 * The terminal's Principal: the OS login mapped through `people:`. `--as` is break-glass
 * (allowed only by `approval.breakGlass`, with `--reason`); it never changes who
 * authenticated, and the policy counts it as at most one approval. With Slack configured,
 * the person's Slack user groups count here as they do in Slack (looked up by belay with
 * the bot token, never taken from the command line).
 */
export async function terminalPrincipal(io: CliIo, config: Config, opts: { as?: string | undefined; reason?: string | undefined } = {}): Promise<Principal> {
  const login = { login: io.user(), host: io.host() };
  const base = { as: opts.as, reason: opts.reason, breakGlass: config.approval.breakGlass };
  const principal = principalFromTerminal(config.people, login, base);
  const slackId = config.people.slackIdOf(principal.person);
  if (!slackId || !config.env.SLACK_BOT_TOKEN || !hasSlackGroups(config)) return principal;
  return principalFromTerminal(config.people, login, { ...base, groups: await slackGroupsOf(config, slackId, io) });
}

function hasSlackGroups(config: Config): boolean {
  const named = Object.values(config.approval.risks).flatMap((r) => r.groups);
  return named.some((g) => g in config.file.slack.usergroups || /^S[A-Z0-9]+$/.test(g));
}

/** The policy groups a Slack user is in through Slack user groups; none (and a note) when Slack cannot say. */
async function slackGroupsOf(config: Config, slackId: string, io: CliIo): Promise<string[]> {
  // Loaded only here: most commands never talk to Slack.
  const [{ WebClient }, { UserGroups, policyGroupNames }, { userGroupApi }] = await Promise.all([import("@slack/web-api"), import("../slack/usergroups.ts"), import("../slack/web.ts")]);
  const web = new WebClient(config.env.SLACK_BOT_TOKEN, { slackApiUrl: config.env.SLACK_API_URL, retryConfig: { retries: 0 }, timeout: 5_000 });
  let failed = false;
  const groups = new UserGroups({
    api: userGroupApi(web),
    logger: { ...silentLogger, warn: () => void (failed = true) },
    ttlMs: 0,
    policyGroups: policyGroupNames(config.approval),
    aliases: config.file.slack.usergroups,
  });
  const found = await groups.groupsOf(slackId);
  if (failed) io.err("note: Slack did not say which user groups you are in; only groups from BELAY_CONFIG count for this decision");
  return found;
}

/** What `--group` gets now: groups are belay's to know, not the caller's to claim. */
export const GROUP_FLAG_GONE =
  "--group is gone: nobody's groups are taken from the command line. Groups come from approval.groups in BELAY_CONFIG or from Slack user groups (slack.usergroups).";
