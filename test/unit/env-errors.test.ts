import { describe, expect, it } from "vitest";
import { loadEnv } from "../../src/config.ts";

/** A bad variable is one line: "NAME is not valid: why; what to do", never zod's own wording or a secret. */
function refusal(env: Record<string, string>): string {
  try {
    loadEnv(env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("accepted");
}

describe("environment errors", () => {
  it("name the variable, say why in plain words and what to do", () => {
    expect(refusal({ PORT: "eighty" })).toBe('PORT is not valid: must be a number (it is "eighty"); fix it in the environment or .env (.env.example lists every variable)');
    expect(refusal({ PORT: "70000" })).toMatch(/^PORT is not valid: must be at most 65535 \(it is "70000"\); /);
    expect(refusal({ BELAY_LOG_LEVEL: "loud" })).toMatch(/^BELAY_LOG_LEVEL is not valid: must be one of fatal, error, warn, info, debug, trace, silent \(it is "loud"\); /);
    expect(refusal({ PAGERDUTY_API_URL: "not a url" })).toMatch(/^PAGERDUTY_API_URL is not valid: must be a URL \(it is "not a url"\); /);
  });

  it("keep the schema's own hint and never echo a secret", () => {
    const m = refusal({ BELAY_AUDIT_HMAC_KEY: "short-secret-value" });
    expect(m).toMatch(/^BELAY_AUDIT_HMAC_KEY is not valid: must be at least 32 characters \(openssl rand -hex 32\); /);
    expect(m).not.toContain("short-secret-value");
    expect(refusal({ SLACK_BOT_TOKEN: "xoxp-123" })).not.toContain("xoxp-123");
  });

  it("one line per bad variable", () => {
    expect(refusal({ PORT: "x", BELAY_LOG_LEVEL: "loud" }).split("\n")).toHaveLength(2);
  });
});
