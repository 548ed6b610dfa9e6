import { describe, expect, it } from "vitest";
import { bindParams, coerceStrings, describeParams, secretParamNames } from "../../src/plan/bind.ts";
import { buildPlan, permissionsOf, playbookFingerprint } from "../../src/plan/plan.ts";
import { playbook, secret, z } from "../../src/sdk/index.ts";

const pb = playbook({
  id: "scale-api",
  title: "Scale",
  summary: "Scale a deployment.",
  failureModes: ["hpa-maxed-out"],
  params: z.object({
    namespace: z.string().min(1),
    replicas: z.number().int().min(1).max(50).default(3),
    dryRun: z.boolean().default(false),
    mode: z.enum(["fast", "safe"]).default("safe"),
    deployments: z.array(z.string()).default([]),
    token: secret(z.string()).optional(),
  }),
})
  .diagnose("read", () => ({ replicas: 2 }))
  .act("scale", {
    risk: "medium",
    permissions: ["apps/deployments/scale:patch"],
    locks: { none: "a test step: it changes nothing another run could change" },
    preview: ({ outputs, params }) => `replicas ${outputs.read.replicas} -> ${params.replicas}`,
    run: () => 1,
    verify: () => true,
    rollback: () => 0,
  })
  .act("annotate", { risk: "low", permissions: ["apps/deployments:patch", "apps/deployments/scale:patch"], locks: { none: "a test step: it changes nothing another run could change" }, preview: () => "x", run: () => 1, verify: () => true, irreversible: "annotations are harmless" });

describe("binding params", () => {
  it("coerces key=value strings by the schema's types", () => {
    expect(coerceStrings(pb.params, { namespace: "prod", replicas: "5", dryRun: "true", deployments: "api, web", mode: "fast" })).toEqual({
      namespace: "prod",
      replicas: 5,
      dryRun: true,
      deployments: ["api", "web"],
      mode: "fast",
    });
    expect(coerceStrings(pb.params, { replicas: "five" })).toEqual({ replicas: "five" }); // left for zod to reject
  });

  it("lists every bad field at once, with what was wrong", () => {
    try {
      bindParams(pb, { replicas: 99, mode: "reckless", extra: 1 });
      expect.unreachable();
    } catch (err) {
      const e = err as { code: string; details: { field: string; message: string }[]; message: string };
      expect(e.code).toBe("params.invalid");
      expect(e.details.map((d) => d.field)).toEqual(["extra", "namespace", "replicas", "mode"]);
      expect(e.message).toMatch(/^invalid params for scale-api:\n {2}extra: unknown param; scale-api takes namespace, replicas/);
    }
  });

  it("fills defaults", () => {
    expect(bindParams(pb, { namespace: "prod" })).toEqual({ namespace: "prod", replicas: 3, dryRun: false, mode: "safe", deployments: [] });
  });

  it("describes params for help texts and modals, secrets marked", () => {
    expect(secretParamNames(pb.params)).toEqual(new Set(["token"]));
    const d = describeParams(pb.params);
    expect(d.find((p) => p.name === "mode")).toMatchObject({ type: "enum", options: ["fast", "safe"], required: false, default: "safe" });
    expect(d.find((p) => p.name === "namespace")).toMatchObject({ type: "string", required: true });
    expect(d.find((p) => p.name === "token")).toMatchObject({ secret: true, required: false });
  });
});

describe("plans", () => {
  it("show every step with kind, risk and permissions up front, previews once known", () => {
    const plan = buildPlan(pb, { namespace: "prod", replicas: 3 });
    expect(plan.steps.map((s) => [s.kind, s.risk, s.preview, s.rollback])).toEqual([
      ["diagnose", null, null, null],
      ["act", "medium", null, "rollback"],
      ["act", "low", null, { irreversible: "annotations are harmless" }],
    ]);
    expect(permissionsOf(pb)).toEqual(["apps/deployments/scale:patch", "apps/deployments:patch"]);
  });

  it("hash differently when params or previews differ, and the same otherwise", () => {
    const a = buildPlan(pb, { namespace: "prod" });
    expect(buildPlan(pb, { namespace: "prod" }).hash).toBe(a.hash);
    expect(buildPlan(pb, { namespace: "staging" }).hash).not.toBe(a.hash);
    const withPreview = buildPlan(pb, { namespace: "prod" }, new Map([[1, "replicas 2 -> 3"]]));
    expect(withPreview.hash).not.toBe(a.hash);
    expect(buildPlan(pb, { namespace: "prod" }, new Map([[1, "replicas 2 -> 4"]])).hash).not.toBe(withPreview.hash);
  });

  it("fingerprint the playbook's structure", () => {
    const other = playbook({ id: "scale-api", title: "", summary: "", failureModes: [], params: z.object({}) }).diagnose("read", () => 1);
    expect(playbookFingerprint(other)).not.toBe(playbookFingerprint(pb));
  });
});

describe("the playbook builder", () => {
  it("refuses an act step with neither rollback nor irreversible reason, and a repeated step name", () => {
    const base = playbook({ id: "x-y", title: "", summary: "", failureModes: [], params: z.object({}) });
    expect(() => base.act("a", { risk: "low", permissions: ["p"], preview: () => "", run: () => 1, verify: () => true } as never)).toThrow(/needs a rollback or an irreversible reason/);
    expect(() => base.diagnose("a", () => 1).diagnose("a" as never, () => 2)).toThrow(/step name "a" is used twice/);
  });
});
