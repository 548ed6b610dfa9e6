import type { TargetDirectory } from "../plan/targets.ts";
import type { WebClient } from "@slack/web-api";
import type { ApprovalPolicy, Risk } from "../approve/policy.ts";
import type { People } from "../identity/people.ts";
import type { Principal } from "../identity/principal.ts";
import type { Drill } from "../sdk/drill.ts";
import type { DrillSession } from "../drills/session.ts";
import type { Engine } from "../execute/engine.ts";
import type { Logger } from "../execute/deps.ts";
import type { Matcher } from "../match/types.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { Db } from "../store/driver.ts";
import type { Publisher } from "./publisher.ts";
import type { ActionTokens } from "./tokens.ts";
import type { UserGroups } from "./usergroups.ts";
import type { RunContext } from "./blocks/run.ts";

/** What the Slack surface is configured with (from config.ts, built in integration.ts). */
export interface SlackSettings {
  botToken: string;
  signingSecret: string;
  /** Set: Socket Mode (no public URL needed). */
  appToken: string | null;
  apiUrl: string;
  /** The slash command, e.g. /runbook. */
  command: string;
  /** Where incident threads go. */
  channel: string | null;
  /** Policy group name -> Slack user group id. */
  usergroups: Readonly<Record<string, string>>;
  usergroupCacheMs: number;
  /** How long a button's token stays good. */
  buttonTtlMs: number;
  /** The identity map (`people:`); none: every Slack user is their own user id. */
  people?: People;
  /** Acknowledging PagerDuty from Slack needs the authority to approve this risk (default low). */
  acknowledgeRisk?: Risk;
}

/**
 * A button belay renders for another surface (the PagerDuty "acknowledge" button). The
 * handler runs after the click was acked and its token resolved; what it returns is shown
 * to the clicker.
 */
export type ExternalActionHandler = (input: {
  action: string;
  incidentId: string | null;
  runId: string | null;
  userId: string;
  /** The clicker, as the Slack surface established them. */
  principal: Principal;
  channel: string | null;
}) => Promise<string | void>;

/** Everything the handlers share. Built once in surface.ts. */
/** What the Slack app needs of drills: their definitions and the session that runs them. */
export interface SlackDrills {
  defs: ReadonlyMap<string, Drill>;
  session: Pick<DrillSession, "run">;
  /** Null when drills can start; otherwise why not (their alert needs the Alertmanager webhook). */
  blocked: string | null;
}

export interface SlackContext {
  engine: Engine;
  db: Db;
  clock: () => Date;
  policy: ApprovalPolicy;
  playbooks: ReadonlyMap<string, AnyPlaybook>;
  matcher: Matcher;
  logger: Logger;
  settings: SlackSettings;
  web: WebClient;
  publisher: Publisher;
  tokens: ActionTokens;
  usergroups: UserGroups;
  people: People;
  /** The Principal of a user of a request the surface has checked (signed, from the installed team). */
  principalOf(user: { id: string; teamId: string | null; enterpriseId?: string | null; name?: string }): Promise<Principal>;
  external: Map<string, ExternalActionHandler>;
  /** Runs work after the ack; errors are logged, never thrown at Bolt. */
  background(label: string, fn: () => Promise<unknown>): void;
  /** Game-day drills, when `belay serve` opened a drill session; null otherwise. */
  drills: () => SlackDrills | null;
  /** The configured targets and their label matchers (target params of runs proposed here). */
  targets?: TargetDirectory;
  /** Posts (once) and keeps updating a run's message. */
  showRun(runId: string, where: { channel: string; threadTs: string | null }, context: RunContext): Promise<void>;
}
