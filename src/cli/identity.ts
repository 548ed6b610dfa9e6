import type { Config } from "../config.ts";
import { principalFromTerminal, type Principal } from "../identity/principal.ts";
import type { CliIo } from "./io.ts";

/**
 * The terminal's Principal: the OS login mapped through `people:`. `--as` is break-glass
 * (allowed only by `approval.breakGlass`, with `--reason`); it never changes who
 * authenticated, and the policy counts it as at most one approval.
 */
export function terminalPrincipal(io: CliIo, config: Config, opts: { as?: string | undefined; reason?: string | undefined } = {}): Principal {
  return principalFromTerminal(config.people, { login: io.user(), host: io.host() }, { as: opts.as, reason: opts.reason, breakGlass: config.approval.breakGlass });
}

/** What `--group` gets now: groups are belay's to know, not the caller's to claim. */
export const GROUP_FLAG_GONE =
  "--group is gone: nobody's groups are taken from the command line. Groups come from approval.groups in BELAY_CONFIG or from Slack user groups (slack.usergroups).";
