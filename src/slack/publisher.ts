import type { Logger } from "../execute/deps.ts";
import type { Db } from "../store/driver.ts";
import { claimMessage, getMessage, setMessageTs, type SlackMessageRow } from "./store.ts";
import { classifySlackError } from "./errors.ts";
import { redactOutgoing } from "../sinks.ts";

export interface MessageBody {
  text: string;
  blocks: readonly unknown[];
  /**
   * Render again after this long even if no event arrives: what the message shows changes
   * with time alone (an approval lapsing). State changes arrive as audit events.
   */
  recheckMs?: number;
  /**
   * Nothing more will change this message but a new event (a finished run, a note): once it
   * is written the publisher forgets the key, so a long-lived process does not keep every
   * message it ever wrote. A later refresh finds it in the store again.
   */
  final?: boolean;
}

/** The two Web API writes the publisher makes. */
export interface ChatApi {
  post(channel: string, threadTs: string | null, body: MessageBody): Promise<{ ts: string }>;
  update(channel: string, ts: string, body: MessageBody): Promise<void>;
}

export interface PublisherOptions {
  /** Least time between two writes to one channel (Slack: about one message per second). */
  paceMs: number;
  /** chat.update is tier 3 (about 50 a minute): a bucket shared by all channels. */
  updatesPerMinute: number;
  updateBurst: number;
  /** Backoff after a 5xx or a network error: base doubling up to max. Never given up. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * How long a final message (a finished run, a note) is remembered after its last write: a
   * late event for it within this time re-renders it without sending an identical update.
   */
  forgetAfterMs: number;
}

export const DEFAULT_PUBLISHER_OPTIONS: PublisherOptions = { paceMs: 1_000, updatesPerMinute: 50, updateBurst: 10, backoffBaseMs: 1_000, backoffMaxMs: 60_000, forgetAfterMs: 60_000 };

interface Entry {
  key: string;
  channel: string;
  /** This process claimed the key and so is the one to post it. */
  owner: boolean;
  /** The ts this process got from chat.postMessage (kept even if writing it to the store failed). */
  ts: string | null;
  /** What Slack shows now, as this process last wrote it: an identical render is not sent again. */
  lastSent: string | null;
  recheck: NodeJS.Timeout | null;
  failures: number;
  /** The last write made the message final and its ts is in the store: nothing to keep. */
  forgettable: boolean;
  /** When it became forgettable (null while it is not). */
  doneAt: number | null;
  waiters: ((ts: string | null) => void)[];
}

interface Lane {
  queue: Set<string>;
  running: boolean;
  nextAt: number;
}

/**
 * Every write belay makes to Slack messages goes through here. Per key, re-renders are
 * coalesced: a message is rendered from the store when its turn comes, so ten events in a
 * second cost one chat.update. Per channel, writes are paced; a 429 pauses the channel for
 * its Retry-After and the write is tried again, a 5xx or a network error backs off and
 * retries; nothing is dropped. A key is posted at most once (the store row is claimed
 * first), so a retry or a second process never posts the same message twice.
 */
export class Publisher {
  private readonly entries = new Map<string, Entry>();
  private readonly lanes = new Map<string, Lane>();
  private readonly opts: PublisherOptions;
  private bucket: { tokens: number; at: number };
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly deps: {
      db: Db;
      api: ChatApi;
      logger: Logger;
      /** Wall clock for database timestamps. */
      clock: () => Date;
      /** Renders a message from the store; null when there is nothing to show. */
      render: (row: SlackMessageRow) => Promise<MessageBody | null>;
      options?: Partial<PublisherOptions>;
      now?: () => number;
      sleep?: (ms: number) => Promise<void>;
    },
  ) {
    this.opts = { ...DEFAULT_PUBLISHER_OPTIONS, ...deps.options };
    this.bucket = { tokens: this.opts.updateBurst, at: this.now() };
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  private sleep(ms: number): Promise<void> {
    return this.deps.sleep ? this.deps.sleep(ms) : new Promise((r) => setTimeout(r, ms));
  }

  /**
   * Shows a new message for `key`. When the key already has one (this process or another
   * posted it), it is re-rendered instead. Resolves once the write is queued.
   */
  async show(m: Omit<SlackMessageRow, "ts">): Promise<{ posted: boolean }> {
    // The stored context (a notify step's text, a note) is a copy that leaves the engine: redacted.
    const claimed = await claimMessage(this.deps.db, { ...m, context: redactOutgoing(m.context) }, this.deps.clock());
    const entry = this.entry(m.key, m.channel);
    if (claimed) entry.owner = true;
    this.enqueue(entry);
    return { posted: claimed };
  }

  /** Re-renders a message belay showed earlier (found in the store when this process has not seen it). */
  refresh(row: Pick<SlackMessageRow, "key" | "channel">): void {
    this.enqueue(this.entry(row.key, row.channel));
  }

  /** The message's ts once it is posted; null when it cannot be (or is not being) posted. */
  async posted(key: string): Promise<string | null> {
    const row = await getMessage(this.deps.db, key);
    const entry = this.entries.get(key);
    if (row?.ts ?? entry?.ts) return (row?.ts ?? entry?.ts)!;
    if (!entry?.owner) return null;
    return new Promise((resolve) => entry.waiters.push(resolve));
  }

  /** Resolves when every queued write has been made (tests and graceful stop). */
  idle(): Promise<void> {
    if (this.active === 0 && [...this.lanes.values()].every((l) => l.queue.size === 0)) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops after the writes in progress; anything still queued after `graceMs` is logged as unsent. */
  async stop(graceMs = 5_000): Promise<void> {
    await Promise.race([this.idle(), this.sleep(graceMs)]);
    this.stopped = true;
    for (const e of this.entries.values()) if (e.recheck) clearTimeout(e.recheck);
    const unsent = [...this.lanes.values()].flatMap((l) => [...l.queue]);
    if (unsent.length > 0) this.deps.logger.warn({ unsent }, "stopping with Slack messages not yet updated; they are re-rendered on the next event");
  }

  private entry(key: string, channel: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = { key, channel, owner: false, ts: null, lastSent: null, recheck: null, failures: 0, forgettable: false, doneAt: null, waiters: [] };
      this.entries.set(key, e);
    }
    return e;
  }

  private enqueue(entry: Entry): void {
    entry.doneAt = null;
    this.sweep(false);
    let lane = this.lanes.get(entry.channel);
    if (!lane) {
      lane = { queue: new Set(), running: false, nextAt: 0 };
      this.lanes.set(entry.channel, lane);
    }
    lane.queue.add(entry.key);
    if (!lane.running && !this.stopped) void this.work(lane);
  }

  private async work(lane: Lane): Promise<void> {
    lane.running = true;
    this.active++;
    try {
      while (lane.queue.size > 0 && !this.stopped) {
        const wait = lane.nextAt - this.now();
        if (wait > 0) await this.sleep(wait);
        const key = lane.queue.values().next().value as string;
        lane.queue.delete(key);
        const entry = this.entries.get(key)!;
        entry.forgettable = false;
        const delay = await this.send(entry);
        // Queued again while it was being written (a new event): it stays for that write.
        entry.doneAt = delay === null && entry.forgettable && !lane.queue.has(key) && entry.waiters.length === 0 ? this.now() : null;
        if (delay !== null) {
          // Put it back at the head: it keeps its turn, and the whole channel waits.
          lane.queue = new Set([key, ...lane.queue]);
          lane.nextAt = this.now() + delay;
        } else {
          lane.nextAt = this.now() + this.opts.paceMs;
        }
      }
    } finally {
      lane.running = false;
      this.active--;
      if (this.active === 0 && [...this.lanes.values()].every((l) => l.queue.size === 0)) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  /** One write. Returns how long to wait before trying this key again, or null when done. */
  private async send(entry: Entry): Promise<number | null> {
    let row: SlackMessageRow | null;
    let body: MessageBody | null;
    try {
      row = await getMessage(this.deps.db, entry.key);
      body = row ? await this.deps.render(row) : null;
    } catch (err) {
      return this.backoff(entry, err, "rendering a Slack message failed");
    }
    const ts = row?.ts ?? entry.ts;
    if (!row || !body) {
      entry.forgettable = entry.ts === null || row?.ts === entry.ts;
      return this.done(entry, ts);
    }
    this.scheduleRecheck(entry, body.recheckMs);
    // Forgotten only when the store has the ts: this process's copy of it is then not needed.
    entry.forgettable = body.final === true && row.ts !== null;
    const payload = JSON.stringify([body.text, body.blocks]);
    if (ts && payload === entry.lastSent) return this.done(entry, ts);
    if (!ts && !entry.owner) {
      entry.forgettable = true; // another process posts it and keeps it
      return this.done(entry, null);
    }
    try {
      if (!ts) {
        const posted = await this.deps.api.post(row.channel, row.threadTs, body);
        entry.ts = posted.ts;
        entry.lastSent = payload;
        // The message exists now: from here on only updates, even if recording the ts fails.
        const recorded = await setMessageTs(this.deps.db, row.key, posted.ts, this.deps.clock()).then(
          () => true,
          (err) => {
            this.deps.logger.error({ err, key: row.key }, "recording a posted Slack message failed; this process keeps updating it");
            return false;
          },
        );
        entry.forgettable = body.final === true && recorded;
        return this.done(entry, posted.ts);
      }
      await this.takeUpdateToken();
      await this.deps.api.update(row.channel, ts, body);
      entry.lastSent = payload;
      return this.done(entry, ts);
    } catch (err) {
      const kind = classifySlackError(err);
      if (kind.retryAfterMs !== null) {
        this.deps.logger.warn({ key: entry.key, retryAfterMs: kind.retryAfterMs }, "Slack rate-limited a message write; waiting as told");
        return kind.retryAfterMs;
      }
      if (kind.transient) return this.backoff(entry, err, "a Slack message write failed; retrying");
      this.deps.logger.error({ key: entry.key, err, code: kind.code }, "Slack refused a message write; it will not be retried");
      return this.done(entry, ts);
    }
  }

  /** How many messages this process is keeping state for (final ones are forgotten after `forgetAfterMs`). */
  get tracked(): number {
    this.sweep(true);
    return this.entries.size;
  }

  private lastSweep = 0;

  /** Forgets final messages written more than `forgetAfterMs` ago (at most twice per that time unless forced). */
  private sweep(force: boolean): void {
    const now = this.now();
    if (!force && now - this.lastSweep < this.opts.forgetAfterMs / 2) return;
    this.lastSweep = now;
    for (const e of this.entries.values()) {
      if (e.doneAt === null || now - e.doneAt < this.opts.forgetAfterMs) continue;
      if (e.recheck) clearTimeout(e.recheck);
      this.entries.delete(e.key);
    }
  }

  private scheduleRecheck(entry: Entry, ms: number | undefined): void {
    if (entry.recheck) clearTimeout(entry.recheck);
    entry.recheck = null;
    if (ms === undefined || this.stopped) return;
    entry.recheck = setTimeout(() => {
      entry.recheck = null;
      if (!this.stopped) this.enqueue(entry);
    }, ms);
    entry.recheck.unref();
  }

  private done(entry: Entry, ts: string | null): null {
    entry.failures = 0;
    for (const w of entry.waiters.splice(0)) w(ts);
    return null;
  }

  private backoff(entry: Entry, err: unknown, msg: string): number {
    const ms = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** entry.failures);
    entry.failures++;
    this.deps.logger.warn({ key: entry.key, err, retryInMs: ms, failures: entry.failures }, msg);
    return ms;
  }

  private async takeUpdateToken(): Promise<void> {
    const rate = this.opts.updatesPerMinute / 60_000;
    for (;;) {
      const now = this.now();
      this.bucket = { tokens: Math.min(this.opts.updateBurst, this.bucket.tokens + (now - this.bucket.at) * rate), at: now };
      if (this.bucket.tokens >= 1) {
        this.bucket.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil((1 - this.bucket.tokens) / rate));
    }
  }
}
