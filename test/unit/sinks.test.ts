import { describe, expect, it } from "vitest";
import { redactText } from "../../src/audit/redact.ts";
import { redactLogValue, redactOutgoing } from "../../src/sinks.ts";

describe("the sink layer", () => {
  it("redacts secret-looking key=value arguments in text (a slash command, a query string)", () => {
    expect(redactText("/runbook run leaky token=hunter2 name=api")).toBe("/runbook run leaky token=[redacted] name=api");
    expect(redactText("GET /cb?access_token=abc123&state=x")).toBe("GET /cb?access_token=[redacted]&state=x");
    expect(redactText("client_secret = 's p a c e' api_key=K1")).toBe("client_secret=[redacted] api_key=[redacted]");
    expect(redactText("tokens: 3, password policy ok")).toBe("tokens: 3, password policy ok");
  });

  it("redactOutgoing keeps every key (Block Kit stays valid) and passes the auth field through", () => {
    const body = { token: "xoxb-123456789012-abc", channel: "C1", text: "see postgres://u:pw@h/db", blocks: [{ type: "section", text: { type: "mrkdwn", text: "Bearer abcdefgh12345678" } }], password: "kept-as-shape" };
    expect(redactOutgoing(body, new Set(["token"]))).toEqual({
      token: "xoxb-123456789012-abc",
      channel: "C1",
      text: "see postgres://u:[redacted]@h/db",
      blocks: [{ type: "section", text: { type: "mrkdwn", text: "Bearer [redacted]" } }],
      password: "kept-as-shape",
    });
  });

  it("redactLogValue flattens errors (message, stack, cause, own fields) and censors secret keys", () => {
    const err = Object.assign(new Error("connect redis://:pw123456@cache failed", { cause: new Error("Bearer abcdefgh12345678") }), { code: "ECONN", dsn: "postgres://a:b@c/d" });
    const v = redactLogValue({ err, token: "t0k3n", list: ["password=x"] }) as Record<string, any>;
    expect(v.err).toMatchObject({ type: "Error", message: "connect redis://:[redacted]@cache failed", code: "ECONN", dsn: "[redacted]", cause: { message: "Bearer [redacted]" } });
    expect(v.err.stack).not.toContain("pw123456");
    expect(v.token).toBe("[redacted]");
    expect(v.list).toEqual(["password=[redacted]"]);
  });
});
