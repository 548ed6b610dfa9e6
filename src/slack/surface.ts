import type { IncomingMessage, ServerResponse } from "node:http";
import { App, HTTPReceiver } from "@slack/bolt";
import { WebClient, type WebClientOptions } from "@slack/web-api";
import type { AuditEvent } from "../audit/events.ts";
import type { Engine } from "../execute/engine.ts";
import type { Logger } from "../execute/deps.ts";
import type { Matcher } from "../match/types.ts";
import { sendJson, type Route } from "../server/http.ts";
import type { IncidentNotifier } from "../surfaces.ts";
import type { ExternalActionHandler, SlackContext, SlackSettings } from "./context.ts";
import { classifySlackError } from "./errors.ts";
import { Publisher, type PublisherOptions } from "./publisher.ts";
import { messageRenderer } from "./render.ts";
import { messagesForRuns } from "./store.ts";
import { ActionTokens } from "./tokens.ts";
import { policyGroupNames, UserGroups } from "./usergroups.ts";
import { boltLogger, chatApi, userGroupApi } from "./web.ts";
import { registerButtons } from "./handlers/buttons.ts";
import { registerCommands } from "./handlers/commands.ts";
import { registerModal } from "./handlers/modal.ts";
import { slackNotifier } from "./notifier.ts";

export interface SlackSurfaceDeps {
  engine: Engine;
  matcher: Matcher;
  logger: Logger;
  settings: SlackSettings;
  /** Extra WebClient options (tests pass `retryConfig: { retries: 0 }`). */
  clientOptions?: WebClientOptions;
  publisher?: Partial<PublisherOptions>;
  /** Handed-on work run at once (default 4). */
  backgroundConcurrency?: number;
  /** How soon the message of a run still moving is rendered again without an event (default 2 s). */
  recheckMs?: number;
  /** Buttons other surfaces own, by action (`pagerduty.acknowledge`). */
  actions?: Record<string, ExternalActionHandler>;
}

/**
 * The Slack app: Bolt for transport (signature check, ack, routing), belay's handlers for
 * the rest. Over HTTP it is one route on belay's own server; with an app token it
 * connects through Socket Mode instead.
 */
export class SlackSurface {
  readonly app: App;
  readonly ctx: SlackContext;
  readonly notifier: IncidentNotifier & { notify(run: { id: string; incidentId: string | null }, message: string): Promise<void> };
  private readonly receiver: HTTPReceiver | null;
  private readonly pending = new Set<Promise<unknown>>();
  /** Work handed on by handlers, waiting for a slot: acks never queue behind it. */
  private readonly queue: (() => void)[] = [];
  private running = 0;
  private readonly runMessages = new Map<string, { key: string; channel: string }>();
  private readonly noMessage = new Map<string, number>();
  private ready = false;
  private startError: string | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: SlackSurfaceDeps) {
    const { engine, settings, logger } = deps;
    const clientOptions: WebClientOptions = {
      slackApiUrl: settings.apiUrl,
      // The publisher waits out 429s and retries 5xx itself, per channel; the client must not also.
      rejectRateLimitedCalls: true,
      retryConfig: { retries: 0 },
      timeout: 10_000,
      logger: boltLogger(logger),
      ...deps.clientOptions,
    };
    const web = new WebClient(settings.botToken, clientOptions);
    const socket = settings.appToken !== null;
    this.receiver = socket
      ? null
      : new HTTPReceiver({ signingSecret: settings.signingSecret, endpoints: "/slack/events", logger: boltLogger(logger), processBeforeResponse: false });
    this.app = new App({
      token: settings.botToken,
      ...(socket ? { socketMode: true, appToken: settings.appToken!, signingSecret: settings.signingSecret } : { receiver: this.receiver! }),
      logger: boltLogger(logger),
      clientOptions,
      deferInitialization: true,
      convoStore: false,
    });
    const { db, clock, policy, playbooks } = engine.deps;
    const tokens = new ActionTokens({ db, clock, ttlMs: settings.buttonTtlMs });
    const external = new Map(Object.entries(deps.actions ?? {}));
    const publisher = new Publisher({
      db,
      api: chatApi(web),
      logger,
      clock: () => new Date(),
      render: messageRenderer({ engine, tokens, policy, clock, hasExternal: (a) => external.has(a), recheckMs: deps.recheckMs ?? 2_000 }),
      ...(deps.publisher ? { options: deps.publisher } : {}),
    });
    const usergroups = new UserGroups({
      api: userGroupApi(web),
      logger,
      ttlMs: settings.usergroupCacheMs,
      policyGroups: policyGroupNames(policy),
      aliases: settings.usergroups,
    });
    this.ctx = {
      engine,
      db,
      clock,
      policy,
      playbooks,
      matcher: deps.matcher,
      logger,
      settings,
      web,
      publisher,
      tokens,
      usergroups,
      external,
      background: (label, fn) => this.background(label, fn),
      showRun: async (runId, where, context) => {
        const key = `run:${runId}`;
        this.runMessages.set(runId, { key, channel: where.channel });
        await publisher.show({ key, channel: where.channel, threadTs: where.threadTs, runId, context: context as Record<string, unknown> });
      },
    };
    registerCommands(this.app, this.ctx);
    registerButtons(this.app, this.ctx);
    registerModal(this.app, this.ctx);
    this.app.error(async (err) => {
      logger.error({ err }, "a Slack handler failed");
    });
    this.notifier = slackNotifier(this.ctx);
  }

  /** `POST /slack/events` on belay's server (none in Socket Mode). */
  get routes(): Route[] {
    if (!this.receiver) return [];
    const listener = this.receiver.requestListener;
    return [
      {
        method: "POST",
        path: "/slack/events",
        handler: (req: IncomingMessage, res: ServerResponse) => {
          // Until auth.test has answered, Bolt cannot authorise a request: Slack retries a 503.
          if (!this.ready) return sendJson(res, 503, { error: `Slack app not ready: ${this.startError ?? "starting"}` });
          listener(req, res);
        },
      },
    ];
  }

  get status(): string {
    const mode = this.receiver ? "HTTP at POST /slack/events" : "Socket Mode";
    return `on (${mode}; command ${this.deps.settings.command}${this.deps.settings.channel ? `; incidents in ${this.deps.settings.channel}` : "; no slack.channel for incident threads"})`;
  }

  /** Checks the token (auth.test) and, in Socket Mode, connects. A Slack outage does not stop belay: it keeps trying. */
  async start(): Promise<void> {
    try {
      await this.app.init();
      if (!this.receiver) await this.app.start();
      this.ready = true;
      this.startError = null;
    } catch (err) {
      const kind = classifySlackError(err);
      this.startError = kind.code;
      if (!kind.transient) {
        this.deps.logger.error({ err, code: kind.code }, "Slack refused belay's token; Slack is off until the configuration is fixed");
        return;
      }
      this.deps.logger.warn({ err }, "Slack did not answer auth.test; retrying in 30 s (belay works without it: use the CLI)");
      this.retryTimer = setTimeout(() => void this.start(), 30_000);
      this.retryTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.settled();
    await this.ctx.publisher.stop();
    if (!this.receiver && this.ready) await this.app.stop();
  }

  /** Resolves when the work handed on by handlers is done and every message write made. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.ctx.publisher.idle();
  }

  /**
   * Runs work after the ack, a few at a time and only once the event loop has turned: with
   * an in-process store (PGlite runs queries on this thread) a burst of clicks would
   * otherwise hold back the acks of the requests still arriving.
   */
  private background(label: string, fn: () => Promise<unknown>): void {
    const p = new Promise<void>((resolve) => {
      this.queue.push(() => {
        this.running++;
        Promise.resolve()
          .then(fn)
          .catch((err) => this.deps.logger.error({ err }, `${label} failed`))
          .finally(() => {
            this.running--;
            resolve();
            this.drain();
          });
      });
    }).finally(() => this.pending.delete(p));
    this.pending.add(p);
    setImmediate(() => this.drain());
  }

  private drain(): void {
    const limit = this.deps.backgroundConcurrency ?? 4;
    while (this.running < limit && this.queue.length > 0) this.queue.shift()!();
  }

  /** Committed audit events: re-render the messages that show these runs (coalesced by the publisher). */
  onEvents(events: readonly AuditEvent[]): void {
    const runIds = [...new Set(events.map((e) => e.runId).filter((r): r is string => r !== null))];
    const unknown: string[] = [];
    const now = Date.now();
    for (const id of runIds) {
      const known = this.runMessages.get(id);
      if (known) this.ctx.publisher.refresh(known);
      else if ((this.noMessage.get(id) ?? 0) < now) unknown.push(id);
    }
    if (unknown.length === 0) return;
    // Runs this process has not shown: another replica (or an earlier life of this one) may have.
    this.background("finding Slack messages for runs", async () => {
      const found = await messagesForRuns(this.ctx.db, unknown);
      for (const m of found) {
        this.runMessages.set(m.runId!, { key: m.key, channel: m.channel });
        this.ctx.publisher.refresh(m);
      }
      for (const id of unknown) if (!found.some((m) => m.runId === id)) this.noMessage.set(id, Date.now() + 5_000);
    });
  }

  registerAction(action: string, handler: ExternalActionHandler): void {
    this.ctx.external.set(action, handler);
  }
}
