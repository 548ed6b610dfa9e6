import type { IncomingMessage, ServerResponse } from "node:http";
import { App, HTTPReceiver } from "@slack/bolt";
import type { WebClientOptions } from "@slack/web-api";
import type { AuditEvent } from "../audit/events.ts";
import type { Engine } from "../execute/engine.ts";
import type { Logger } from "../execute/deps.ts";
import type { Matcher } from "../match/types.ts";
import { sendJson, type Route } from "../server/http.ts";
import type { IncidentNotifier } from "../surfaces.ts";
import type { ExternalActionHandler, SlackContext, SlackDrills, SlackSettings } from "./context.ts";
import { classifySlackError } from "./errors.ts";
import { Publisher, type PublisherOptions } from "./publisher.ts";
import { messageRenderer } from "./render.ts";
import { getMessage, lastAuditSeq, messagesForRuns, runsChangedSince } from "./store.ts";
import { ActionTokens } from "./tokens.ts";
import { policyGroupNames, UserGroups } from "./usergroups.ts";
import { boltLogger, chatApi, SinkWebClient, userGroupApi } from "./web.ts";
import { registerButtons } from "./handlers/buttons.ts";
import { registerCommands } from "./handlers/commands.ts";
import { registerForm } from "./handlers/form.ts";
import { registerModal } from "./handlers/modal.ts";
import { registerUnhandled } from "./handlers/unhandled.ts";
import type { TargetDirectory } from "../plan/targets.ts";
import { slackNotifier } from "./notifier.ts";
import { People } from "../identity/people.ts";
import { principalFromSlack } from "../identity/principal.ts";
import { refuseForeignRequests, type Installation } from "./installed.ts";
import { breakGlassSince } from "./store.ts";

/** A request no listener acked by then gets the fallback answer (Slack gives up at 3 s). */
const UNHANDLED_AFTER_MS = 2_500;

/** Events after which a run's message changes no more on its own. */
const FINISHING: ReadonlySet<string> = new Set(["run.succeeded", "run.failed", "run.rolled_back", "run.aborted", "run.previewed"]);

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
  /** How often the audit log is read for changes other processes made (default 2 s). */
  tailMs?: number;
  /** How long a finished run is remembered (default 60 s): late events for it re-render nothing twice. */
  forgetAfterMs?: number;
  /** Buttons other surfaces own, by action (`pagerduty.acknowledge`). */
  actions?: Record<string, ExternalActionHandler>;
  /** Game-day drills (`/runbook drill ...`), looked up when a command arrives. */
  drills?: () => SlackDrills | null;
  /** The configured targets: a run proposed here fills its target param with the only one of its kind. */
  targets?: TargetDirectory;
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
  /** Slack requests read but not yet answered: while there are any, handed-on work waits its turn. */
  private inFlight = 0;
  /** Runs with a message; `seq` is the last event re-rendered for; `doneAt` when the run finished. */
  private readonly runMessages = new Map<string, { key: string; channel: string; seq: number; doneAt: number | null }>();
  /** Runs found to have no message, and until when that answer is trusted. */
  private readonly noMessage = new Map<string, number>();
  /** The audit log has been read for other processes' changes up to here (null: not yet). */
  private tailSeq: number | null = null;
  private tailTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private ready = false;
  private startError: string | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** From auth.test: requests from any other team or org are refused. */
  private installed: (Installation & { botId: string; botUserId: string }) | null = null;

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
    const web = new SinkWebClient(settings.botToken, clientOptions);
    const socket = settings.appToken !== null;
    this.receiver = socket
      ? null
      : new HTTPReceiver({
          signingSecret: settings.signingSecret,
          endpoints: "/slack/events",
          logger: boltLogger(logger),
          processBeforeResponse: false,
          // The last resort for a request no listener acked (a payload type Bolt cannot
          // classify): a 200 with a line of text before Slack's 3 s, never Bolt's 404.
          unhandledRequestTimeoutMillis: UNHANDLED_AFTER_MS,
          unhandledRequestHandler: ({ response }) => {
            logger.warn("a Slack request was not acknowledged by any listener; answered 200 so Slack does not report a failure");
            if (response.headersSent) return;
            const text = JSON.stringify({ response_type: "ephemeral", text: `belay could not handle this request in time, so it may have done nothing. Try again; \`${settings.command} help\` lists the commands.` });
            response.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
            response.end(text);
          },
        });
    this.app = new App({
      // belay calls auth.test itself (start()): its answer names the installed team, which
      // every request is checked against, and Bolt authorises requests from the same answer.
      authorize: async () => {
        const i = this.installed;
        if (!i) throw new Error("auth.test has not answered yet");
        return { botToken: settings.botToken, botId: i.botId, botUserId: i.botUserId, teamId: i.teamId, ...(i.enterpriseId ? { enterpriseId: i.enterpriseId } : {}) };
      },
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
      render: messageRenderer({ engine, tokens, policy, clock, hasExternal: (a) => external.has(a), people: settings.people ?? new People() }),
      ...(deps.publisher ? { options: deps.publisher } : {}),
    });
    const usergroups = new UserGroups({
      api: userGroupApi(web),
      logger,
      ttlMs: settings.usergroupCacheMs,
      policyGroups: policyGroupNames(policy),
      aliases: settings.usergroups,
    });
    const people = settings.people ?? new People();
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
      people,
      principalOf: async (u) =>
        principalFromSlack(people, {
          userId: u.id,
          teamId: u.teamId ?? this.installed?.teamId ?? "",
          enterpriseId: u.enterpriseId ?? this.installed?.enterpriseId ?? null,
          groups: await usergroups.groupsOf(u.id),
          ...(u.name ? { userName: u.name } : {}),
        }),
      external,
      background: (label, fn) => this.background(label, fn),
      drills: deps.drills ?? (() => null),
      targets: deps.targets ?? {},
      showRun: async (runId, where, context) => {
        const key = `run:${runId}`;
        if (!this.runMessages.has(runId)) this.runMessages.set(runId, { key, channel: where.channel, seq: 0, doneAt: null });
        await publisher.show({ key, channel: where.channel, threadTs: where.threadTs, runId, context: context as Record<string, unknown> });
      },
    };
    refuseForeignRequests(this.app, this.ctx, () => this.installed);
    registerCommands(this.app, this.ctx);
    registerButtons(this.app, this.ctx);
    registerModal(this.app, this.ctx);
    registerForm(this.app, this.ctx);
    // After the real listeners: what they do not claim is still acked, with a line of help.
    registerUnhandled(this.app, this.ctx);
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
          this.inFlight++;
          let counted = true;
          const done = () => {
            if (!counted) return;
            counted = false;
            this.inFlight--;
            if (this.inFlight === 0) setImmediate(() => this.drain());
          };
          res.once("finish", done);
          res.once("close", done);
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
    const { web } = this.ctx;
    try {
      const auth = await web.auth.test();
      this.installed = { teamId: auth.team_id!, enterpriseId: auth.enterprise_id ?? null, botId: auth.bot_id!, botUserId: auth.user_id! };
      await this.app.init();
      if (!this.receiver) await this.app.start();
      this.ready = true;
      this.startError = null;
      if (!this.tailTimer) {
        // From the moment Slack is on, no other process's change is missed (failing here, the first tick tries again).
        this.tailSeq = await lastAuditSeq(this.ctx.db).catch(() => null);
        this.scheduleTail();
      }
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
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.tailTimer) clearTimeout(this.tailTimer);
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
    // Acks first: while requests are waiting for theirs, one job at a time (so work still
    // moves under a steady stream of clicks). With PGlite a query holds this thread.
    const limit = this.inFlight > 0 ? 1 : (this.deps.backgroundConcurrency ?? 4);
    while (this.running < limit && this.queue.length > 0) this.queue.shift()!();
  }

  /** Committed audit events: re-render the messages that show these runs (coalesced by the publisher). */
  onEvents(events: readonly AuditEvent[]): void {
    const last = new Map<string, { seq: number; finished: boolean }>();
    for (const e of events) {
      if (e.runId === null) continue;
      const prev = last.get(e.runId);
      last.set(e.runId, { seq: Math.max(prev?.seq ?? 0, e.seq), finished: (prev?.finished ?? false) || FINISHING.has(e.kind) });
    }
    this.refreshRuns(last);
    this.refreshIncidentRoots(events);
  }

  /**
   * An incident's root says what its run did and how many alerts it has: when one of its runs
   * waits for people or finishes, or alerts join it, the root is rendered again (the publisher
   * coalesces repeated refreshes).
   */
  private refreshIncidentRoots(events: readonly AuditEvent[]): void {
    const ids = new Set<string>();
    for (const e of events) {
      if (!e.incidentId) continue;
      // Its run waits or finishes, or alerts joined it (the root counts them).
      if ((e.runId && (FINISHING.has(e.kind) || e.kind === "step.awaiting_approval")) || e.kind === "incident.updated") ids.add(e.incidentId);
    }
    if (ids.size === 0) return;
    this.background("refreshing incident roots", async () => {
      for (const id of ids) {
        const row = await getMessage(this.ctx.db, `incident:${id}`);
        if (row) this.ctx.publisher.refresh(row);
      }
    });
  }

  /** What this surface keeps in memory about runs and messages (finished ones are let go). */
  tracked(): { runs: number; messages: number } {
    this.sweep(Date.now());
    return { runs: this.runMessages.size + this.noMessage.size, messages: this.ctx.publisher.tracked };
  }

  private refreshRuns(runs: ReadonlyMap<string, { seq: number; finished: boolean }>): void {
    const unknown: string[] = [];
    const now = Date.now();
    this.sweep(now);
    for (const [id, { seq, finished }] of runs) {
      const known = this.runMessages.get(id);
      if (known) {
        if (finished) known.doneAt ??= now;
        if (seq <= known.seq) continue; // already re-rendered for these events
        known.seq = seq;
        this.ctx.publisher.refresh(known);
      } else if (!this.noMessage.has(id)) unknown.push(id);
    }
    if (unknown.length === 0) return;
    // Runs this process has not shown: another replica (or an earlier life of this one) may have.
    this.background("finding Slack messages for runs", async () => {
      const found = await messagesForRuns(this.ctx.db, unknown);
      for (const m of found) {
        const r = runs.get(m.runId!)!;
        this.runMessages.set(m.runId!, { key: m.key, channel: m.channel, seq: r.seq, doneAt: r.finished ? Date.now() : null });
        this.ctx.publisher.refresh(m);
      }
      for (const id of unknown) if (!found.some((m) => m.runId === id)) this.noMessage.set(id, Date.now() + 5_000);
    });
  }

  /** Lets go of runs that finished a while ago and of stale "no message" answers: a later event finds them in the store. */
  private sweep(now: number): void {
    const keep = this.deps.forgetAfterMs ?? 60_000;
    for (const [id, until] of this.noMessage) if (until < now) this.noMessage.delete(id);
    for (const [id, r] of this.runMessages) if (r.doneAt !== null && now - r.doneAt >= keep) this.runMessages.delete(id);
  }

  /**
   * Other processes change runs too (`belay approve`/`abort` in a terminal while Slack is
   * down, another replica working a run): their events never reach `onEvents`, so the
   * audit log is read for them, one query per tick however many runs there are.
   */
  private scheduleTail(): void {
    if (this.stopped) return;
    this.tailTimer = setTimeout(() => {
      void this.readTail().finally(() => this.scheduleTail());
    }, this.deps.tailMs ?? 2_000);
    this.tailTimer.unref();
  }

  private async readTail(): Promise<void> {
    try {
      if (this.tailSeq === null) {
        // Changes from before this process started are not replayed; from here on, none is missed.
        this.tailSeq = await lastAuditSeq(this.ctx.db);
        return;
      }
      const since = this.tailSeq ?? 0;
      const changed = await runsChangedSince(this.ctx.db, since);
      if (changed.length === 0) return;
      await this.announceBreakGlass(since);
      this.tailSeq = Math.max(this.tailSeq ?? 0, ...changed.map((c) => c.seq));
      this.refreshRuns(new Map(changed.map((c) => [c.runId, { seq: c.seq, finished: c.finished }])));
    } catch (err) {
      this.deps.logger.warn({ err }, "reading the audit log for other processes' changes failed; trying again");
    }
  }

  /**
   * Break-glass decisions (from any process: the terminal's `--as`) are posted to the run's
   * thread, once across replicas (the note's key is the event's id).
   */
  private async announceBreakGlass(since: number): Promise<void> {
    const events = await breakGlassSince(this.ctx.db, since);
    if (events.length === 0) return;
    const messages = await messagesForRuns(this.ctx.db, [...new Set(events.map((e) => e.runId))]);
    for (const e of events) {
      const m = messages.find((x) => x.runId === e.runId);
      const channel = m?.channel ?? this.deps.settings.channel;
      if (!channel) {
        this.deps.logger.warn({ event: e.id, runId: e.runId }, "break-glass decision with no Slack thread to announce it in");
        continue;
      }
      const d = e.data;
      const who = this.ctx.people.slackIdOf(String(d.onBehalfOf));
      const text = `:rotating_light: *Break-glass*: login \`${String(d.login)}\` on \`${String(d.host)}\` (${e.actor}) made a ${String(d.decision)} decision${e.step ? ` on \`${e.step}\`` : ""} of run \`${e.runId}\` for ${who ? `<@${who}>` : `*${String(d.onBehalfOf)}*`}. Reason: ${String(d.reason)}`;
      await this.ctx.publisher.show({ key: `note:break-glass:${e.id}`, channel, threadTs: m ? (m.threadTs ?? m.ts) : null, runId: null, context: { text } });
    }
  }

  registerAction(action: string, handler: ExternalActionHandler): void {
    this.ctx.external.set(action, handler);
  }
}
