import { describe, expect, it } from "vitest";
import { playbook, target, z } from "../../src/sdk/index.ts";
import { withWholeTargetKeys } from "../../src/sdk/target.ts";

const step = { risk: "low", permissions: ["x:y"], preview: () => "x", run: () => 1, verify: () => true, irreversible: "x" } as const;
const ctx = (params: Record<string, unknown>) => ({ params, outputs: {} });

describe("act step locks", () => {
  it("default to every target the params name, whole, through default() and optional()", () => {
    const pb = playbook({ id: "d", title: "", summary: "", failureModes: [], params: z.object({ redis: target("redis").default("cache"), pg: target("postgres").optional(), kube: target("kube"), n: z.number() }) }).act("a", step);
    const def = pb.steps[0]!;
    expect(def.lockRule).toMatchObject({ kind: "targets" });
    expect(def.locks!(ctx({ redis: "cache", pg: "main", kube: "prod", n: 1 }))).toEqual(["redis:cache", "postgres:main", "kube:prod"]);
    expect(def.locks!(ctx({ redis: "cache", kube: "prod", n: 1 }))).toEqual(["redis:cache", "kube:prod"]); // an optional target left out is not touched
  });

  it("given keys also take the whole target's key for a key on part of a Redis or Postgres target (kube parts stay parts)", () => {
    expect(withWholeTargetKeys(["kube:prod/deployments/api", "redis:cache/clients", "redis:cache", "postgres:main/backends", "t:x", "svc:a/b"])).toEqual([
      "kube:prod/deployments/api",
      "redis:cache",
      "redis:cache/clients",
      "postgres:main",
      "postgres:main/backends",
      "t:x",
      "svc:a/b",
    ]);
  });

  it("refuses, at run time too, a step naming no target that says nothing about locks", () => {
    const pb = playbook({ id: "u", title: "", summary: "", failureModes: [], params: z.object({ redis: z.string() }) });
    const act = pb.act.bind(pb) as (name: string, spec: unknown) => unknown;
    expect(() => act("a", step)).toThrow(/act step "a" declares no locks and its params name no target.*locks: \{ none:/);
    expect(() => act("a", { ...step, locks: "none" })).toThrow(/neither a function nor \{ none/);
    expect(() => act("a", { ...step, locks: { none: "  " } })).toThrow(/neither a function nor \{ none/);
    const ok = pb.act("a", { ...step, locks: { none: "changes nothing shared" } });
    expect(ok.steps[0]!.lockRule).toEqual({ kind: "none", reason: "changes nothing shared" });
    expect(ok.steps[0]!.locks!(ctx({ redis: "cache" }))).toEqual([]);
  });
});
