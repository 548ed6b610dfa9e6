import { createHmac } from "node:crypto";
import type { Server } from "node:http";
import nock from "nock";
import type { ApprovalPolicy } from "../../src/approve/policy.ts";
import type { AuditEvent } from "../../src/audit/events.ts";
import { catalog } from "../../src/catalog/index.ts";
import { silentLogger, type Logger } from "../../src/execute/deps.ts";
import type { Engine } from "../../src/execute/engine.ts";
import { createMatcher } from "../../src/match/index.ts";
import type { AnyPlaybook } from "../../src/sdk/playbook.ts";
import { createHttpServer, listen } from "../../src/server/http.ts";
import { Metrics } from "../../src/server/metrics.ts";
import type { Db } from "../../src/store/driver.ts";
import type { SlackDrills, SlackSettings } from "../../src/slack/context.ts";
import type { PublisherOptions } from "../../src/slack/publisher.ts";
import { SlackSurface } from "../../src/slack/surface.ts";
import { playbook, z } from "../../src/sdk/index.ts";
import { testEngine } from "./engine.ts";

export const SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
export const BOT_TOKEN = "xoxb-test-belay";
export const RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1234/abcd";
export const CHANNEL = "C0INCIDENT";
export const TEAM = "T0001";

/** One Web API call as Slack received it: the method and the form body, JSON fields decoded. */
export interface ApiCall {
  method: string;
  body: Record<string, any>;
  /** The ts Slack gave a posted message. */
  ts?: string;
}

type Scripted = { status: number; headers?: Record<string, string>; body?: unknown };

/**
 * slack.com through nock: every call is recorded with its decoded body; answers are Slack's
 * (ts for chat.postMessage, members for usergroups.users.list) unless a failure is scripted.
 */
export function fakeSlackApi(opts: { usergroups?: Record<string, string[]> } = {}) {
  const calls: ApiCall[] = [];
  /** Every call, never cleared: what each message looks like now. */
  const all: ApiCall[] = [];
  const responses: ApiCall[] = [];
  const script = new Map<string, Scripted[]>();
  let seq = 0;
  const decode = (raw: string): Record<string, any> => {
    const out: Record<string, any> = {};
    for (const [k, v] of new URLSearchParams(raw)) out[k] = ["blocks", "view", "attachments"].includes(k) ? JSON.parse(v) : v;
    return out;
  };
  const scope = nock("https://slack.com")
    .persist()
    .post(/^\/api\/[a-zA-Z.]+$/)
    .reply(function (uri, body) {
      const method = uri.replace("/api/", "");
      const parsed = decode(typeof body === "string" ? body : new URLSearchParams(body as Record<string, string>).toString());
      const call: ApiCall = { method, body: parsed };
      calls.push(call);
      all.push(call);
      const next = script.get(method)?.shift();
      if (next) return [next.status, next.body ?? (next.status === 429 ? "" : { ok: false, error: "internal_error" }), next.headers ?? {}];
      switch (method) {
        case "auth.test":
          return [200, { ok: true, user_id: "UBELAY", bot_id: "BBELAY", team_id: TEAM }];
        case "chat.postMessage": {
          const ts = `1700000000.${String(++seq).padStart(6, "0")}`;
          call.ts = ts;
          return [200, { ok: true, channel: parsed.channel, ts, message: { ts } }];
        }
        case "usergroups.users.list":
          return [200, { ok: true, users: opts.usergroups?.[parsed.usergroup] ?? [] }];
        default:
          return [200, { ok: true, ts: parsed.ts, channel: parsed.channel }];
      }
    });
  const hooks = nock("https://hooks.slack.com")
    .persist()
    .post(/^\/commands\//)
    .reply(function (_uri, body) {
      responses.push({ method: "response_url", body: typeof body === "string" ? JSON.parse(body) : (body as Record<string, any>) });
      return [200, "ok"];
    });
  return {
    calls,
    /** Replies through response_url, in order. */
    responses,
    of: (method: string) => calls.filter((c) => c.method === method).map((c) => c.body),
    /** Messages posted successfully, with their ts. */
    posted: (): Record<string, any>[] => calls.filter((c) => c.method === "chat.postMessage" && c.ts).map((c) => ({ ts: c.ts!, ...c.body })),
    /** The newest version of the message with this ts: its last chat.update, or the post. */
    latest(ts: string): { channel: string; text: string; blocks: any[] } | undefined {
      const updates = all.filter((c) => c.method === "chat.update" && c.body.ts === ts);
      return (updates.at(-1)?.body ?? all.find((c) => c.ts === ts)?.body) as never;
    },
    /** The next answers to `method` (then back to normal). */
    fail(method: string, ...answers: Scripted[]) {
      script.set(method, [...(script.get(method) ?? []), ...answers]);
    },
    clear() {
      calls.length = 0;
      responses.length = 0;
    },
    done() {
      scope.persist(false);
      hooks.persist(false);
      nock.cleanAll();
    },
  };
}

export type FakeSlack = ReturnType<typeof fakeSlackApi>;

/** A Db whose every call first waits `delay()` ms: a slow or struggling store. */
export function slowDb(db: Db, delay: () => number): Db {
  const wait = () => new Promise((r) => setTimeout(r, delay()));
  return {
    kind: db.kind,
    query: async (sql, params) => {
      await wait();
      return db.query(sql, params);
    },
    transaction: async (fn) => {
      await wait();
      return db.transaction(fn);
    },
    withMigrationLock: (fn) => db.withMigrationLock(fn),
    close: () => db.close(),
  } as Db;
}

/** A Db whose statements matching `fails` throw (a dropped connection), in and out of transactions. */
export function failingDb(db: Db, fails: (sql: string) => boolean): Db {
  const wrap = <Q extends { query: Db["query"] }>(q: Q) =>
    (async (sql: string, params?: readonly unknown[]) => {
      if (fails(sql)) throw Object.assign(new Error("Connection terminated unexpectedly"), { code: "57P01" });
      return q.query(sql, params);
    }) as Db["query"];
  return {
    kind: db.kind,
    query: wrap(db),
    transaction: (fn) => db.transaction((tx) => fn({ query: wrap(tx) })),
    withMigrationLock: (fn) => db.withMigrationLock(fn),
    close: () => db.close(),
  } as Db;
}

export function sign(body: string, ts = Math.floor(Date.now() / 1000), secret = SIGNING_SECRET): Record<string, string> {
  const sig = `v0=${createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex")}`;
  return { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": String(ts), "x-slack-signature": sig };
}

export interface SlackHarness {
  url: string;
  surface: SlackSurface;
  engine: Engine;
  events: AuditEvent[];
  post(body: string, headers?: Record<string, string>): Promise<{ status: number; body: any; ms: number }>;
  command(text: string, user?: string, extra?: Record<string, string>): Promise<{ status: number; body: any; ms: number }>;
  click(value: string, user: string, actionId?: string, extra?: { channel?: string; ts?: string }): Promise<{ status: number; body: any; ms: number }>;
  submit(view: Record<string, unknown>, user: string): Promise<{ status: number; body: any; ms: number }>;
  settled(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real Bolt app behind belay's real HTTP server on a loopback port, a test engine with
 * its loop running, and slack.com through nock (set up by the caller with fakeSlackApi).
 */
export async function startSlack(opts: {
  db: Db;
  playbooks: AnyPlaybook[];
  policy?: Partial<ApprovalPolicy> | Record<string, unknown>;
  clock?: () => Date;
  settings?: Partial<SlackSettings>;
  publisher?: Partial<PublisherOptions>;
  logger?: Logger;
  drills?: () => SlackDrills | null;
}): Promise<SlackHarness> {
  const events: AuditEvent[] = [];
  let surface: SlackSurface | null = null;
  const { engine } = testEngine({
    db: opts.db,
    playbooks: opts.playbooks,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.policy ? { policy: opts.policy } : {}),
    extra: {
      onEvents: (e) => {
        events.push(...e);
        surface?.onEvents(e);
      },
      notify: (run, message) => surface!.notifier.notify(run, message),
    },
  });
  surface = new SlackSurface({
    engine,
    matcher: createMatcher(opts.playbooks, catalog),
    logger: opts.logger ?? silentLogger,
    settings: {
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      appToken: null,
      apiUrl: "https://slack.com/api/",
      command: "/runbook",
      channel: CHANNEL,
      usergroups: {},
      usergroupCacheMs: 60_000,
      buttonTtlMs: 24 * 3600 * 1000,
      ...opts.settings,
    },
    clientOptions: { retryConfig: { retries: 0 } },
    publisher: { paceMs: 5, backoffBaseMs: 20, backoffMaxMs: 200, forgetAfterMs: 300, ...opts.publisher },
    tailMs: 100,
    forgetAfterMs: 300,
    ...(opts.drills ? { drills: opts.drills } : {}),
  });
  await surface.start();
  const server: Server = createHttpServer({ routes: surface.routes, metrics: new Metrics(), logger: silentLogger, ready: async () => ({ ok: true, detail: "" }) });
  const addr = await listen(server, 0, "127.0.0.1");
  const url = `http://127.0.0.1:${addr.port}/slack/events`;
  engine.start();

  const post = async (body: string, headers = sign(body)) => {
    const started = performance.now();
    const res = await fetch(url, { method: "POST", headers, body });
    const text = await res.text();
    const ms = performance.now() - started;
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* plain text */
    }
    return { status: res.status, body: parsed, ms };
  };
  const s = surface;
  return {
    url,
    surface: s,
    engine,
    events,
    post,
    command: (text, user = "UALICE", extra = {}) =>
      post(
        new URLSearchParams({
          token: "legacy",
          team_id: TEAM,
          team_domain: "acme",
          channel_id: CHANNEL,
          channel_name: "incidents",
          user_id: user,
          user_name: user.toLowerCase(),
          command: "/runbook",
          text,
          api_app_id: "A0BELAY",
          is_enterprise_install: "false",
          response_url: RESPONSE_URL,
          trigger_id: "13345224609.738474920.8088930838d88f008e0",
          ...extra,
        }).toString(),
      ),
    click: (value, user, actionId = "belay.approve.0", extra = {}) =>
      post(
        new URLSearchParams({
          payload: JSON.stringify({
            type: "block_actions",
            user: { id: user, username: user.toLowerCase(), team_id: TEAM },
            api_app_id: "A0BELAY",
            token: "legacy",
            container: { type: "message", message_ts: extra.ts ?? "1700000000.000001", channel_id: extra.channel ?? CHANNEL, is_ephemeral: false },
            trigger_id: "13345224609.738474920.8088930838d88f008e1",
            team: { id: TEAM, domain: "acme" },
            channel: { id: extra.channel ?? CHANNEL, name: "incidents" },
            message: { type: "message", ts: extra.ts ?? "1700000000.000001", text: "" },
            response_url: "https://hooks.slack.com/actions/T0001/1/x",
            actions: [{ type: "button", action_id: actionId, block_id: "run:0", value, action_ts: String(Date.now() / 1000) }],
          }),
        }).toString(),
      ),
    submit: (view, user) =>
      post(
        new URLSearchParams({
          payload: JSON.stringify({
            type: "view_submission",
            team: { id: TEAM, domain: "acme" },
            user: { id: user, username: user.toLowerCase(), team_id: TEAM },
            api_app_id: "A0BELAY",
            token: "legacy",
            trigger_id: "13345224609.738474920.8088930838d88f008e2",
            view: { id: "V0001", team_id: TEAM, type: "modal", hash: "1.abc", ...view },
          }),
        }).toString(),
      ),
    settled: async () => {
      // Engine work triggers events, events trigger renders: settle until both are quiet.
      for (let i = 0; i < 3; i++) {
        await s.settled();
        await new Promise((r) => setTimeout(r, 30));
      }
    },
    close: async () => {
      await engine.stop();
      await s.stop();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };
}

/** The value of the button with this action id prefix in a message's blocks, if shown. */
export function buttonValue(blocks: readonly any[], actionPrefix: string): string | undefined {
  for (const b of blocks) {
    if (b.type !== "actions") continue;
    for (const e of b.elements) if (typeof e.action_id === "string" && e.action_id.startsWith(actionPrefix)) return e.value;
  }
  return undefined;
}

/** Waits until `check` holds (or fails after `ms`). */
export async function eventually<T>(check: () => T | Promise<T>, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What the test playbook's steps change: a cache's eviction policy and a writer's restarts. */
export interface CacheState {
  policy: string;
  restarts: number;
  verifyOk: boolean;
}

/**
 * diagnose -> act (medium, with rollback) -> act (high, irreversible). `replicas` has no
 * default, so `/runbook run cache-fix` without it opens the form.
 */
export function cachePlaybook(state: CacheState) {
  return playbook({
    id: "cache-fix",
    title: "Cache refuses writes: evict instead",
    summary: "Reads the cache's memory policy, switches it to an evicting one, restarts the writer.",
    failureModes: ["redis-maxmemory"],
    match: [{ alertname: /^RedisOutOfConfiguredMaxmemory$/ }],
    params: z.object({
      redis: z.string().default("cache"),
      mode: z.enum(["allkeys-lru", "allkeys-lfu"]).default("allkeys-lru"),
      replicas: z.number().int().min(1).max(10),
    }),
  })
    .diagnose("read-memory", () => ({ policy: state.policy, usedMb: 512 }))
    .act("set-policy", {
      risk: "medium",
      permissions: ["redis:CONFIG"],
      locks: { none: "a test step: it changes nothing another run could change" },
      preview: ({ params, outputs }) => `maxmemory-policy ${outputs["read-memory"].policy} -> ${params.mode}`,
      run: ({ params }) => {
        const previous = state.policy;
        state.policy = params.mode;
        return { previous };
      },
      verify: () => ({ ok: state.verifyOk, detail: `policy=${state.policy}` }),
      rollback: ({ result }) => {
        state.policy = result.previous;
      },
    })
    .act("restart-writer", {
      risk: "high",
      permissions: ["apps/deployments:patch"],
      locks: { none: "a test step: it changes nothing another run could change" },
      preview: ({ params }) => `restart writer (${params.replicas} replicas)`,
      run: () => ({ restarts: ++state.restarts }),
      verify: () => true,
      irreversible: "a restart cannot be undone; repeating it is harmless",
    });
}

/** One read-only step and a notify: runs to the end with nobody asked. */
export const pingPlaybook = playbook({
  id: "ping",
  title: "Ping",
  summary: "Reads nothing, says hello.",
  failureModes: [],
  params: z.object({}),
})
  .diagnose("look", () => ({ fine: true }))
  .notify("say", { message: () => "all quiet" });
