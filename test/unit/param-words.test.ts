import { describe, expect, it } from "vitest";
import { z } from "zod";
import { bindParams } from "../../src/plan/bind.ts";
import { playbook, type AnyPlaybook } from "../../src/sdk/playbook.ts";
import { secret } from "../../src/sdk/secret.ts";

const pb = playbook({
  id: "scale-api",
  title: "t",
  summary: "s",
  failureModes: [],
  params: z.object({
    namespace: z.string().min(1),
    replicas: z.number().int().min(1).max(10),
    mode: z.enum(["fast", "safe"]).default("safe"),
    owner: z.string().email().optional(),
    ratio: z.number().lt(1).optional(),
    hosts: z.array(z.string()).min(1).optional(),
    tag: z.string().refine((v) => v.startsWith("v"), "tags start with v").optional(),
  }),
}).diagnose("x", () => 1) as unknown as AnyPlaybook;

function issues(input: Record<string, unknown>): string[] {
  try {
    bindParams(pb, input);
  } catch (err) {
    return (err as { details: { message: string }[] }).details.map((d) => d.message);
  }
  throw new Error("expected params.invalid");
}

describe("param errors in plain words (not zod's)", () => {
  it("a missing param names itself and its type", () => {
    expect(issues({ replicas: 2 })).toEqual(["namespace is required (text)"]);
    expect(issues({ namespace: "", replicas: 2 })).toEqual(["namespace is required (text)"]);
    expect(issues({ namespace: "prod" })).toEqual(["replicas is required (number)"]);
  });

  it("bounds, types, choices and formats", () => {
    expect(issues({ namespace: "prod", replicas: 500 })).toEqual(["replicas must be at most 10 (got 500)"]);
    expect(issues({ namespace: "prod", replicas: 0 })).toEqual(["replicas must be at least 1 (got 0)"]);
    expect(issues({ namespace: "prod", replicas: 2.5 })).toEqual(["replicas must be a whole number (got 2.5)"]);
    expect(issues({ namespace: "prod", replicas: "five" })).toEqual(['replicas must be a number (got "five")']);
    expect(issues({ namespace: "prod", replicas: 2, mode: "reckless" })).toEqual(['mode must be one of fast, safe (got "reckless")']);
    expect(issues({ namespace: "prod", replicas: 2, owner: "bob" })).toEqual(['owner must be a valid email (got "bob")']);
    expect(issues({ namespace: "prod", replicas: 2, ratio: 1 })).toEqual(["ratio must be less than 1 (got 1)"]);
    expect(issues({ namespace: "prod", replicas: 2, hosts: [] })).toEqual(["hosts needs at least 1 item"]);
    expect(issues({ namespace: "prod", replicas: 2, tag: "1.0" })).toEqual(["tag: tags start with v"]);
  });

  it("never zod's wording", () => {
    const all = issues({ replicas: 500, mode: "x", owner: "y", ratio: 3 }).join("\n");
    expect(all).not.toMatch(/Too big|Too small|Invalid input|expected number|received undefined|Invalid option/);
  });
});

describe("a secret param's value", () => {
  it("never appears in a param error (the sinks cannot tell it is a secret: it is not written as name=value)", () => {
    const withSecret = playbook({ id: "rotate", title: "t", summary: "s", failureModes: [], params: z.object({ apiToken: secret(z.string().min(16)), port: secret(z.number().max(10)) }) }).diagnose("x", () => 1) as unknown as AnyPlaybook;
    let messages: string[] = [];
    try {
      bindParams(withSecret, { apiToken: "hunter2hunter2", port: 4242 });
    } catch (err) {
      messages = (err as { details: { message: string }[] }).details.map((d) => d.message);
    }
    expect(messages).toEqual(["apiToken must be at least 16 characters", "port must be at most 10"]);
  });
});
