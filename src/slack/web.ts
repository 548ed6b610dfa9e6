import { LogLevel, type Logger as SlackLogger } from "@slack/bolt";
import { WebClient, type WebAPICallResult } from "@slack/web-api";
import { redactOutgoing } from "../sinks.ts";
import type { Logger } from "../execute/deps.ts";
import type { ChatApi, MessageBody } from "./publisher.ts";
import type { UserGroupApi } from "./usergroups.ts";

const AUTH_FIELDS: ReadonlySet<string> = new Set(["token"]);

/**
 * A WebClient whose every call is a sink: chat.postMessage, chat.update, chat.postEphemeral,
 * views.* bodies (text and blocks) are redacted before they leave. Only the auth field passes.
 */
export class SinkWebClient extends WebClient {
  override apiCall(method: string, options?: Record<string, unknown>): Promise<WebAPICallResult> {
    return super.apiCall(method, options === undefined ? options : redactOutgoing(options, AUTH_FIELDS));
  }
}

/** The Web API calls belay makes, over one WebClient (retries are the publisher's, not the client's). */
export function chatApi(web: WebClient): ChatApi {
  return {
    async post(channel, threadTs, body: MessageBody) {
      const r = await web.chat.postMessage({ channel, text: body.text, blocks: body.blocks as never, ...(threadTs ? { thread_ts: threadTs } : {}), unfurl_links: false, unfurl_media: false });
      return { ts: r.ts! };
    },
    async update(channel, ts, body: MessageBody) {
      await web.chat.update({ channel, ts, text: body.text, blocks: body.blocks as never });
    },
  };
}

export function userGroupApi(web: WebClient): UserGroupApi {
  return {
    async listMembers(usergroup) {
      const r = await web.usergroups.users.list({ usergroup });
      return r.users ?? [];
    },
  };
}

/** Bolt and the Web API log through belay's logger (so secrets are redacted the same way). */
export function boltLogger(logger: Logger): SlackLogger {
  let level = LogLevel.INFO;
  const join = (msg: unknown[]) => msg.map((m) => (typeof m === "string" ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(" ");
  return {
    debug: (...msg) => logger.debug({ from: "bolt" }, join(msg)),
    info: (...msg) => logger.info({ from: "bolt" }, join(msg)),
    warn: (...msg) => logger.warn({ from: "bolt" }, join(msg)),
    error: (...msg) => logger.error({ from: "bolt" }, join(msg)),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
