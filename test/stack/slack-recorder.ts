import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";

/**
 * Slack's Web API on a loopback port, for a belay child process (SLACK_API_URL points
 * here): answers the methods belay calls as Slack does and records every body, JSON
 * fields decoded.
 */
export interface SlackCall {
  method: string;
  body: Record<string, any>;
  ts?: string;
  at: number;
}

export interface SlackUpload {
  fileId: string;
  /** The request body as sent to the upload URL (the file, possibly in a multipart envelope). */
  bytes: Buffer;
}

export interface SlackRecorder {
  apiUrl: string;
  calls: SlackCall[];
  /** Files posted to the upload URLs files.getUploadURLExternal handed out. */
  uploads: SlackUpload[];
  of(method: string): SlackCall[];
  /** The newest version (post or last update) of every message, by ts. */
  messages(): Map<string, Record<string, any>>;
  close(): Promise<void>;
}

const JSON_FIELDS = new Set(["blocks", "attachments", "view", "metadata"]);

export async function startSlackRecorder(): Promise<SlackRecorder> {
  const calls: SlackCall[] = [];
  const uploads: SlackUpload[] = [];
  let seq = 0;
  let base = "";
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      if ((req.url ?? "").startsWith("/upload/")) {
        uploads.push({ fileId: req.url!.slice("/upload/".length), bytes: Buffer.concat(chunks) });
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("OK - " + Buffer.concat(chunks).length);
        return;
      }
      const raw = Buffer.concat(chunks).toString("utf8");
      const method = (req.url ?? "").replace(/^\/api\//, "").split("?")[0]!;
      let body: Record<string, any> = {};
      if (String(req.headers["content-type"] ?? "").includes("application/json")) {
        try {
          body = JSON.parse(raw || "{}");
        } catch {
          body = { raw };
        }
      } else {
        for (const [k, v] of new URLSearchParams(raw)) {
          try {
            body[k] = JSON_FIELDS.has(k) ? JSON.parse(v) : v;
          } catch {
            body[k] = v;
          }
        }
      }
      const call: SlackCall = { method, body, at: Date.now() };
      calls.push(call);
      let answer: Record<string, unknown>;
      switch (method) {
        case "auth.test":
          answer = { ok: true, url: "https://acme.slack.com/", team: "acme", user: "belay", team_id: "T0STACK", user_id: "UBELAY", bot_id: "BBELAY" };
          break;
        case "chat.postMessage": {
          const ts = `1800000000.${String(++seq).padStart(6, "0")}`;
          call.ts = ts;
          answer = { ok: true, channel: body.channel, ts, message: { ts, text: body.text } };
          break;
        }
        case "chat.update":
          answer = { ok: true, channel: body.channel, ts: body.ts, text: body.text };
          break;
        case "chat.postEphemeral":
          answer = { ok: true, message_ts: `1800000000.${String(++seq).padStart(6, "0")}` };
          break;
        case "files.getUploadURLExternal": {
          const fileId = `F${String(++seq).padStart(8, "0")}`;
          answer = { ok: true, upload_url: `${base}/upload/${fileId}`, file_id: fileId };
          break;
        }
        case "files.completeUploadExternal": {
          const files = (typeof body.files === "string" ? JSON.parse(body.files) : body.files ?? []) as { id: string; title?: string }[];
          answer = { ok: true, files: files.map((f) => ({ id: f.id, title: f.title ?? "" })) };
          break;
        }
        case "usergroups.users.list":
          answer = { ok: true, users: [] };
          break;
        default:
          answer = { ok: true };
      }
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
  return {
    apiUrl: `${base}/api/`,
    calls,
    uploads,
    of: (method) => calls.filter((c) => c.method === method),
    messages() {
      const m = new Map<string, Record<string, any>>();
      for (const c of calls) {
        if (c.method === "chat.postMessage" && c.ts) m.set(c.ts, { ...c.body, ts: c.ts });
        if (c.method === "chat.update" && m.has(c.body.ts)) m.set(c.body.ts, { ...m.get(c.body.ts), ...c.body });
      }
      return m;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Every button in a message's blocks: action id and value. */
export function buttons(blocks: readonly any[] | undefined): { actionId: string; value: string; blockId: string }[] {
  const out: { actionId: string; value: string; blockId: string }[] = [];
  for (const b of blocks ?? []) {
    if (b?.type !== "actions") continue;
    for (const e of b.elements ?? []) if (typeof e.action_id === "string") out.push({ actionId: e.action_id, value: String(e.value ?? ""), blockId: String(b.block_id ?? "") });
  }
  return out;
}

/** A block_actions click as Slack sends it to belay's /slack/events, signed with the app's secret. */
export function signedClick(opts: { secret: string; user: string; channel: string; ts: string; actionId: string; value: string; blockId: string }): { body: string; headers: Record<string, string> } {
  const payload = {
    type: "block_actions",
    user: { id: opts.user, username: opts.user.toLowerCase(), team_id: "T0STACK" },
    api_app_id: "A0BELAY",
    token: "legacy",
    container: { type: "message", message_ts: opts.ts, channel_id: opts.channel, is_ephemeral: false },
    trigger_id: "1.2.stack",
    team: { id: "T0STACK", domain: "acme" },
    channel: { id: opts.channel, name: "incidents" },
    message: { type: "message", ts: opts.ts, text: "" },
    response_url: "http://127.0.0.1:9/unused",
    actions: [{ type: "button", action_id: opts.actionId, block_id: opts.blockId, value: opts.value, action_ts: String(Date.now() / 1000) }],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const now = Math.floor(Date.now() / 1000);
  const sig = `v0=${createHmac("sha256", opts.secret).update(`v0:${now}:${body}`).digest("hex")}`;
  return { body, headers: { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": String(now), "x-slack-signature": sig } };
}

/**
 * A `/runbook` slash command as Slack sends it to belay's /slack/events, signed with the app's
 * secret. `responseUrl`: where belay's later answers go (the recorder records them).
 */
export function signedCommand(opts: { secret: string; user: string; channel: string; text: string; responseUrl: string }): { body: string; headers: Record<string, string> } {
  const body = new URLSearchParams({
    token: "legacy",
    team_id: "T0STACK",
    team_domain: "acme",
    channel_id: opts.channel,
    channel_name: "incidents",
    user_id: opts.user,
    user_name: opts.user.toLowerCase(),
    command: "/runbook",
    text: opts.text,
    api_app_id: "A0BELAY",
    is_enterprise_install: "false",
    response_url: opts.responseUrl,
    trigger_id: "1.2.stack-command",
  }).toString();
  const now = Math.floor(Date.now() / 1000);
  const sig = `v0=${createHmac("sha256", opts.secret).update(`v0:${now}:${body}`).digest("hex")}`;
  return { body, headers: { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": String(now), "x-slack-signature": sig } };
}
