import { People, principalFromSlack, principalFromTerminal, type Principal } from "../../src/identity/index.ts";
import { approvalPolicySchema, type ApprovalPolicy } from "../../src/approve/policy.ts";
import type { AuditEvent } from "../../src/audit/events.ts";
import { Engine } from "../../src/execute/engine.ts";
import { silentLogger, type EngineDeps } from "../../src/execute/deps.ts";
import { newId } from "../../src/ids.ts";
import { checkPlaybooks } from "../../src/plan/registry.ts";
import type { AnyPlaybook } from "../../src/sdk/playbook.ts";
import type { Targets } from "../../src/targets/types.ts";
import type { Db } from "../../src/store/driver.ts";
import { randomBytes } from "node:crypto";
import { makeKeyring } from "../../src/execute/secrets.ts";

/** One key for the whole test process: every engine of a test shares it, as replicas would. */
export const testKeyring = makeKeyring(randomBytes(32));

/** A clock tests move by hand. */
export function manualClock(start = new Date("2026-11-22T03:00:00.000Z")) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}

export const noTargets: Targets = {
  redis: (name) => {
    throw new Error(`no redis target ${name} in this test`);
  },
  postgres: (name) => {
    throw new Error(`no postgres target ${name} in this test`);
  },
  prometheus: (name) => {
    throw new Error(`no prometheus target ${name} in this test`);
  },
  kube: (name) => {
    throw new Error(`no kube target ${name} in this test`);
  },
};

export function testEngine(opts: {
  db: Db;
  playbooks: AnyPlaybook[];
  clock?: () => Date;
  policy?: Partial<ApprovalPolicy> | Record<string, unknown>;
  targets?: Targets;
  owner?: string;
  extra?: Partial<EngineDeps>;
}): { engine: Engine; events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  const engine = new Engine({
    db: opts.db,
    clock: opts.clock ?? (() => new Date()),
    newId,
    logger: silentLogger,
    targets: opts.targets ?? noTargets,
    playbooks: checkPlaybooks(opts.playbooks, "test"),
    policy: approvalPolicySchema.parse(opts.policy ?? {}),
    owner: opts.owner ?? newId("test"),
    leaseMs: 2_000,
    pollMs: 50,
    keyring: testKeyring,
    onEvents: (e) => events.push(...e),
    ...opts.extra,
  });
  return { engine, events };
}

/**
 * A person as a surface establishes them: at a terminal their login (mapped to the same
 * name), in Slack their user id (unmapped, so the id is the person).
 */
export function personAt(id: string, surface: "cli" | "slack" = "cli"): Principal {
  return surface === "slack"
    ? principalFromSlack(new People(), { userId: id, teamId: "T0001" })
    : principalFromTerminal(new People({ [id]: { login: id } }), { login: id, host: "test-host" }, { breakGlass: { allowed: false } });
}

export const alice = personAt("alice");
export const bob = personAt("bob");
export const carol = personAt("carol");

/**
 * Ages an approval on the database's clock (the one its expiry is judged by): as if it had
 * been given `ms` ago. Moving a test's own clock no longer expires anything.
 */
export async function ageApproval(db: Db, runId: string, actor: string, ms: number): Promise<void> {
  await db.query(
    `UPDATE approvals SET created_at = created_at - $3 * interval '1 millisecond', expires_at = expires_at - $3 * interval '1 millisecond'
     WHERE run_id = $1 AND actor = $2`,
    [runId, actor, ms],
  );
}

/** Every approval on record, aged by `ms` on the database's clock (a test's "time passes" for them). */
export async function ageApprovals(db: Db, ms: number): Promise<void> {
  await db.query(
    `UPDATE approvals SET created_at = created_at - $1 * interval '1 millisecond', expires_at = expires_at - $1 * interval '1 millisecond'`,
    [ms],
  );
}
