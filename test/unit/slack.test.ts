import { describe, expect, it } from "vitest";
import { approvalPolicySchema } from "../../src/approve/policy.ts";
import type { RunView } from "../../src/execute/engine.ts";
import { buttonKey, buttonsFor, renderRunMessage } from "../../src/slack/blocks/run.ts";
import { modalErrors, readModalValues } from "../../src/slack/blocks/modal.ts";
import { alertFromText, parseCommand, tokenize } from "../../src/slack/command.ts";
import { classifySlackError } from "../../src/slack/errors.ts";
import { UserGroups } from "../../src/slack/usergroups.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { cachePlaybook } from "../helpers/slack.ts";

describe("command parsing", () => {
  it("reads every subcommand, with Slack's escaping and curly quotes undone", () => {
    expect(parseCommand("")).toEqual({ kind: "help" });
    expect(parseCommand("list redis")).toEqual({ kind: "list", query: "redis" });
    expect(parseCommand("show cache-fix")).toEqual({ kind: "show", playbook: "cache-fix" });
    expect(parseCommand("run cache-fix replicas=3 note=\u201cmax &amp; min\u201d")).toEqual({ kind: "run", playbook: "cache-fix", params: { replicas: "3", note: "max & min" }, stray: [] });
    expect(parseCommand("run cache-fix oops")).toEqual({ kind: "run", playbook: "cache-fix", params: {}, stray: ["oops"] });
    expect(parseCommand("status")).toEqual({ kind: "status", runId: null });
    expect(parseCommand("abort run_1 wrong target")).toEqual({ kind: "abort", runId: "run_1", reason: "wrong target" });
    expect(parseCommand("history")).toEqual({ kind: "history", limit: 10 });
    expect(parseCommand("history 0").kind).toBe("usage");
    expect(parseCommand("audit inc_1")).toEqual({ kind: "audit", subject: "inc_1" });
    expect(parseCommand("match &lt;redis&gt; OOM")).toEqual({ kind: "match", text: "<redis> OOM" });
    expect(parseCommand("run").kind).toBe("usage");
    expect(tokenize(`a "b c" d='e f'`)).toEqual(["a", "b c", "d=e f"]);
  });

  it("turns match text into a normalised slack alert with labels", () => {
    const a = alertFromText("RedisOutOfConfiguredMaxmemory instance=cache-1 service=checkout writes failing");
    expect(a).toMatchObject({ source: "slack", status: "firing", title: "RedisOutOfConfiguredMaxmemory writes failing", service: "checkout" });
    expect(a.labels).toEqual({ alertname: "RedisOutOfConfiguredMaxmemory", instance: "cache-1", service: "checkout" });
    expect(alertFromText("redis OOM command not allowed").labels).toEqual({});
  });
});

describe("modal values and errors", () => {
  const pb = cachePlaybook({ policy: "x", restarts: 0, verifyOk: true });
  it("reads selects and inputs, leaving empty fields to their defaults", () => {
    const values = readModalValues(pb, {
      values: {
        "param:redis": { value: { value: "" } },
        "param:mode": { value: { selected_option: { value: "allkeys-lfu" } } },
        "param:replicas": { value: { value: "2" } },
      },
    });
    expect(values).toEqual({ mode: "allkeys-lfu", replicas: "2" });
  });
  it("puts each issue on its field and the rest on the first", () => {
    expect(modalErrors(pb, [{ field: "replicas", message: "too big" }, { field: "colour", message: "unknown param" }])).toEqual({ "param:replicas": "too big", "param:redis": "colour: unknown param" });
  });
});

describe("run message", () => {
  const pb = cachePlaybook({ policy: "x", restarts: 0, verifyOk: true });
  const now = new Date("2026-11-22T03:00:00Z");
  const view: RunView = {
    run: { id: "run_1", playbookId: "cache-fix", playbookFingerprint: "f", incidentId: null, requestedBy: "UALICE", surface: "slack", params: { replicas: 2 }, status: "awaiting_approval", statusReason: null, dryRun: false, planHash: "h".repeat(64), abortRequested: null, leaseOwner: null, leaseExpiresAt: null, nextAt: now, createdAt: now, updatedAt: now },
    steps: [
      { runId: "run_1", idx: 0, name: "read-memory", kind: "diagnose", risk: null, permissions: [], status: "succeeded", preview: null, previewData: null, output: { policy: "noeviction" }, error: null, attempts: 1, startedAt: now, finishedAt: now },
      { runId: "run_1", idx: 1, name: "set-policy", kind: "act", risk: "medium", permissions: [], status: "awaiting_approval", preview: "a -> b", previewData: null, output: null, error: null, attempts: 0, startedAt: null, finishedAt: null },
      { runId: "run_1", idx: 2, name: "restart-writer", kind: "act", risk: "high", permissions: [], status: "pending", preview: null, previewData: null, output: null, error: null, attempts: 0, startedAt: null, finishedAt: null },
    ],
    approvals: [],
    playbook: pb,
  };

  it("asks for buttons only on the step waiting for humans, plus abort", () => {
    expect(buttonsFor(view).map((b) => [b.action, b.stepIdx ?? null])).toEqual([
      ["approve", 1],
      ["skip", 1],
      ["abort", null],
    ]);
    expect(buttonsFor({ ...view, run: { ...view.run, status: "succeeded" } })).toEqual([]);
  });

  it("renders only the tokens it is given as button values", () => {
    const tokens = new Map([
      [buttonKey("approve", 1), "bt_approve"],
      [buttonKey("skip", 1), "bt_skip"],
      [buttonKey("abort", null), "bt_abort"],
    ]);
    const m = renderRunMessage({ view, events: [], context: { failureMode: "redis-maxmemory", reasons: ["alertname X"] }, policy: approvalPolicySchema.parse({}), now, tokens });
    const actions = m.blocks.filter((b: any) => b.type === "actions") as any[];
    expect(actions).toHaveLength(1);
    expect(actions[0].elements.map((e: any) => e.value)).toEqual(["bt_approve", "bt_skip", "bt_abort"]);
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(m.blocks)).toContain("*Failure mode* `redis-maxmemory`\\n• alertname X");
  });
});

describe("Slack errors and user groups", () => {
  it("classifies by code: 429 waits, 5xx and network retry, platform errors stop", () => {
    expect(classifySlackError({ code: "slack_webapi_rate_limited_error", retryAfter: 3 })).toEqual({ code: "slack_webapi_rate_limited_error", retryAfterMs: 3000, transient: true });
    expect(classifySlackError({ code: "slack_webapi_http_error", statusCode: 503 }).transient).toBe(true);
    expect(classifySlackError({ code: "slack_webapi_request_error" }).transient).toBe(true);
    expect(classifySlackError({ code: "slack_webapi_platform_error", data: { error: "channel_not_found" } })).toEqual({ code: "channel_not_found", retryAfterMs: null, transient: false });
  });

  it("resolves policy groups through user groups, caches them, and keeps a stale answer when Slack fails", async () => {
    let now = 0;
    let calls = 0;
    let failing = false;
    const groups = new UserGroups({
      api: {
        listMembers: async (id) => {
          calls++;
          if (failing) throw new Error("slack down");
          return id === "S0SRE" ? ["U1"] : ["U2"];
        },
      },
      logger: silentLogger,
      ttlMs: 1000,
      policyGroups: ["sre", "S0DBA", "static-group"],
      aliases: { sre: "S0SRE" },
      now: () => now,
    });
    expect(await groups.groupsOf("U1")).toEqual(["sre"]);
    expect(await groups.groupsOf("U2")).toEqual(["S0DBA"]);
    expect(calls).toBe(2);
    now = 2000;
    failing = true;
    expect(await groups.groupsOf("U1")).toEqual(["sre"]);
    expect(calls).toBe(4);
  });
});
