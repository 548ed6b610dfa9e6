/**
 * Type tests for the playbook SDK. This file is compiled by `tsc --noEmit` in `npm test`;
 * every `@ts-expect-error` below MUST be an error, or tsc fails with "Unused
 * '@ts-expect-error' directive". So each line proves the compiler rejects that mistake.
 */
import { playbook, target, z } from "../../src/sdk/index.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

const base = playbook({
  id: "types",
  title: "Types",
  summary: "Type tests",
  failureModes: [],
  params: z.object({ redis: target("redis").default("cache"), limit: z.number().int() }),
}).diagnose("memory", async ({ params }) => {
  // params are typed from the zod schema
  assertType<Equal<typeof params.limit, number>>();
  assertType<Equal<typeof params.redis, string>>();
  return { policy: "noeviction" as string, used: 10 };
});

// Later steps see earlier outputs by name, typed.
base.diagnose("read", ({ outputs }) => {
  assertType<Equal<typeof outputs.memory, { policy: string; used: number }>>();
  return outputs.memory.used * 2;
});

// A misspelled output name fails to compile.
base.diagnose("typo", ({ outputs }) => {
  // @ts-expect-error 'memroy' is not an output of any earlier step
  return outputs.memroy;
});

// A wrong param type fails to compile.
base.diagnose("wrong-param", ({ params }) => {
  // @ts-expect-error limit is a number, not a string
  const s: string = params.limit;
  return s;
});

// An output read before the step that makes it does not exist yet.
playbook({ id: "order", title: "", summary: "", failureModes: [], params: z.object({}) })
  // @ts-expect-error 'later' is not an output yet
  .diagnose("first", ({ outputs }) => outputs.later)
  .diagnose("later", () => 1);

// A step name used twice fails to compile.
// @ts-expect-error "memory" is already a step of this playbook
base.diagnose("memory", () => 1);

// A step with a `when` may be skipped: its output may be undefined.
const conditional = base.diagnose("maybe", { when: ({ outputs }) => outputs.memory.used > 5, run: () => ({ n: 1 }) });
conditional.diagnose("after-maybe", ({ outputs }) => {
  assertType<Equal<typeof outputs.maybe, { n: number } | undefined>>();
  // @ts-expect-error outputs.maybe may be undefined
  return outputs.maybe.n;
});

// An act step's output may be undefined too: a human may skip it.
const acted = base.act("set-policy", {
  risk: "medium",
  permissions: ["redis:CONFIG"],
  preview: ({ outputs }) => `maxmemory-policy ${outputs.memory.policy} -> allkeys-lru`,
  run: () => ({ previous: "noeviction" }),
  verify: ({ result }) => {
    assertType<Equal<typeof result, { previous: string }>>();
    return true;
  },
  rollback: ({ result }) => result.previous,
});
acted.notify("tell", {
  message: ({ outputs }) => {
    assertType<Equal<typeof outputs["set-policy"], { previous: string } | undefined>>();
    return `was ${outputs["set-policy"]?.previous}`;
  },
});

// An act step needs a rollback or an irreversible reason...
// @ts-expect-error neither rollback nor irreversible
base.act("no-undo", { risk: "low", permissions: ["x"], preview: () => "", run: () => 1, verify: () => true });
// ...but not both.
// @ts-expect-error both rollback and irreversible
base.act("both", { risk: "low", permissions: ["x"], preview: () => "", run: () => 1, verify: () => true, rollback: () => 0, irreversible: "no" });

// Risk is one of low, medium, high; permissions are required on act steps.
// @ts-expect-error "extreme" is not a risk
base.act("risky", { risk: "extreme", permissions: ["x"], preview: () => "", run: () => 1, verify: () => true, irreversible: "n/a" });
// @ts-expect-error permissions missing
base.act("no-perms", { risk: "low", preview: () => "", run: () => 1, verify: () => true, irreversible: "n/a" });

// A `when` sees params and outputs, but not targets (decisions are pure).
base.diagnose("pure-when", {
  // @ts-expect-error a when condition has no targets
  when: ({ targets }) => Boolean(targets),
  run: () => 1,
});

// fromAlert returns a partial of the params' input type.
playbook({
  id: "from-alert",
  title: "",
  summary: "",
  failureModes: [],
  params: z.object({ namespace: z.string() }),
  // @ts-expect-error namespace must be a string
  fromAlert: () => ({ namespace: 5 }),
});

// Read-only means read-only: diagnose, verify and wait get targets without mutating operations.
const readOnly = playbook({ id: "ro", title: "", summary: "", failureModes: [], params: z.object({ redis: target("redis") }) })
  .diagnose("policy", async ({ params, targets }) => {
    const r = targets.redis(params.redis);
    // @ts-expect-error configSet mutates: a diagnose cannot call it
    await r.configSet("maxmemory-policy", "allkeys-lru");
    // @ts-expect-error a dry run is still a mutating method: diagnose uses findKeys, not deleteKeys
    await r.deleteKeys({ keys: ["a"] }, { dryRun: true });
    // @ts-expect-error terminateBackends mutates
    await targets.postgres("main").terminateBackends({ pids: [1] });
    // @ts-expect-error drain mutates: drainPlan is its read-only twin
    await targets.kube("prod").drain("node-1", { deadlineMs: 1, dryRun: true });
    await targets.kube("prod").drainPlan("node-1");
    return r.configGet("maxmemory-policy");
  })
  .diagnose("fn-form", ({ targets }) =>
    // @ts-expect-error the function form of diagnose is read-only too
    targets.redis("cache").clientKill({ idleAtLeastSec: 1 }),
  )
  .wait("settled", {
    timeoutMs: 1000,
    // @ts-expect-error wait's condition is read-only
    until: async ({ targets }) => (await targets.redis("cache").configSet("a", "b")).dryRun,
  });
readOnly.act("set", {
  risk: "low",
  permissions: ["redis:CONFIG"],
  // A preview may call the mutating method: its facade forces dryRun.
  preview: ({ targets }) => targets.redis("cache").configSet("maxmemory-policy", "allkeys-lru"),
  run: ({ targets }) => targets.redis("cache").configSet("maxmemory-policy", "allkeys-lru"),
  verify: async ({ targets }) => {
    // @ts-expect-error verify is read-only
    await targets.redis("cache").configSet("maxmemory-policy", "allkeys-lru");
    return (await targets.redis("cache").configGet("maxmemory-policy")) === "allkeys-lru";
  },
  rollback: ({ targets, result }) => targets.redis("cache").configSet("maxmemory-policy", result.previous ?? "noeviction"),
});

// `when` decides from params and outputs only: it has no targets at all.
readOnly.diagnose("gated", {
  // @ts-expect-error a when condition gets no targets
  when: ({ targets }) => targets !== undefined,
  run: () => 1,
});

// `when` with reasons: each check sees typed params and outputs, in `if` and in a computed `reason`.
base.act("reasoned", {
  risk: "low",
  permissions: ["redis:CONFIG"],
  when: [
    { if: ({ outputs }) => outputs.memory.used > 0, reason: "nothing is used" },
    { if: ({ params, outputs }) => outputs.memory.used < params.limit, reason: ({ params }) => `already at the limit of ${params.limit}` },
  ],
  preview: () => "x",
  run: () => 1,
  verify: () => true,
  rollback: () => undefined,
});
base.act("reasoned-typo", {
  risk: "low",
  permissions: ["redis:CONFIG"],
  // @ts-expect-error a misspelled output name in a condition fails to compile
  when: { if: ({ outputs }) => outputs.memroy.used > 0, reason: "x" },
  preview: () => "x",
  run: () => 1,
  verify: () => true,
  rollback: () => undefined,
});
base.act("reasonless", {
  risk: "low",
  permissions: ["redis:CONFIG"],
  // @ts-expect-error a check needs its reason
  when: { if: () => true },
  preview: () => "x",
  run: () => 1,
  verify: () => true,
  rollback: () => undefined,
});

// An act step's locks: on params naming a target (`target()`), leaving them out locks that target.
playbook({ id: "locks-default", title: "", summary: "", failureModes: [], params: z.object({ pg: target("postgres").optional(), n: z.number() }) }).act("change", {
  risk: "low",
  permissions: ["pg:write"],
  preview: () => "x",
  run: () => 1,
  verify: () => true,
  irreversible: "x",
});
const untargeted = playbook({ id: "locks-none", title: "", summary: "", failureModes: [], params: z.object({ redis: z.string(), n: z.number() }) });
// @ts-expect-error an act step whose params name no target must say what it locks
untargeted.act("unlocked", {
  risk: "low",
  permissions: ["redis:CONFIG"],
  preview: () => "x",
  run: () => 1,
  verify: () => true,
  irreversible: "x",
});
// ...its keys, or that it locks nothing and why.
untargeted.act("keyed", { risk: "low", permissions: ["redis:CONFIG"], locks: ({ params }) => [`redis:${params.redis}`], preview: () => "x", run: () => 1, verify: () => true, irreversible: "x" });
untargeted.act("none", { risk: "low", permissions: ["redis:CONFIG"], locks: { none: "changes nothing shared" }, preview: () => "x", run: () => 1, verify: () => true, irreversible: "x" });
untargeted.act("bad-locks", {
  risk: "low",
  permissions: ["redis:CONFIG"],
  // @ts-expect-error "none" needs a reason: { none: "why" }
  locks: "none",
  preview: () => "x",
  run: () => 1,
  verify: () => true,
  irreversible: "x",
});
