import { playbook, target, z } from "../src/sdk/index.ts";

/**
 * Queries pile up behind one lock holder. Find the root of the blocking tree; cancel its
 * query if it is running one, or terminate it if it sits idle in transaction (a cancel does
 * nothing to an idle session, and its locks stay until the transaction ends).
 */
export default playbook({
  id: "postgres-cancel-blocker",
  title: "Postgres blocking locks: cancel the blocker",
  summary: "Builds the blocking-lock tree from pg_blocking_pids, picks the root that blocks the most sessions, and cancels its query (or terminates it when it is idle in transaction).",
  failureModes: ["postgres-deadlocks", "slow-query", "postgres-connections-exhausted"],
  symptoms: [
    "Many sessions waiting on Lock events; requests time out",
    "One long transaction holding a row or table lock",
    "PostgresqlDeadlocks or lock-wait alerts firing",
  ],
  match: [
    { alertname: /^(PostgresqlDeadlocks|PostgresqlTooManyLocksAcquired|PostgresLockWaits|PostgresqlBlockedQueries)$/ },
    { text: /blocking (lock|quer)|lock wait|deadlock|waiting for (a )?lock/i },
  ],
  params: z.object({
    postgres: target("postgres"),
    /** Only blockers connected to this database (the tree is cluster-wide otherwise). */
    database: z.string().optional(),
  }),
  fromAlert: (a) => ({ ...(a.labels.datname ? { database: a.labels.datname } : {}) }),
})
  .diagnose("lock-tree", {
    description: "Who blocks whom (pg_blocking_pids), with queries and ages.",
    manual: [
      "psql -c \"select pid, pg_blocking_pids(pid) as blocked_by, state, now()-xact_start as age, left(query,80) from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0\"",
    ],
    run: ({ params, targets }) => targets.postgres(params.postgres).blockingTree(),
  })
  .diagnose("blocker", {
    description: "The root blocking the most sessions.",
    run: ({ params, outputs }) => {
      const tree = outputs["lock-tree"];
      const inScope = tree.nodes.filter((n) => tree.roots.includes(n.pid) && (params.database === undefined || n.database === params.database));
      const root = inScope.sort((a, b) => b.blockingTotal - a.blockingTotal)[0];
      if (!root) return { pid: null, idle: false, blocking: 0, query: "", state: null };
      return { pid: root.pid, idle: (root.state ?? "").startsWith("idle in transaction"), blocking: root.blockingTotal, query: root.query, state: root.state };
    },
  })
  .act("cancel-blocker", {
    description: "pg_cancel_backend of the blocker's running query; its transaction aborts and releases its locks.",
    risk: "medium",
    permissions: ["postgres:pg_signal_backend"],
    when: [
      { if: ({ outputs }) => outputs.blocker.pid !== null, reason: "no session blocks another right now" },
      { if: ({ outputs }) => !outputs.blocker.idle, reason: "the blocker is idle in transaction: it has no query to cancel (it is terminated instead)" },
    ],
    locks: ({ params }) => [`postgres:${params.postgres}/backends`],
    manual: ["psql -c 'select pg_cancel_backend(<blocker pid>)'"],
    preview: async ({ params, outputs, targets }) => {
      const r = await targets.postgres(params.postgres).cancelBackends({ pids: [outputs.blocker.pid!], blockingOthers: true, database: params.database }, { dryRun: true });
      return { summary: r.summary, diff: r.diff, data: { pids: r.backends.map((b) => b.pid) } };
    },
    run: ({ params, targets, previewData }) =>
      targets.postgres(params.postgres).cancelBackends({ pids: (previewData as { pids: number[] }).pids, blockingOthers: true }),
    verify: async ({ params, targets, result }) => {
      for (let i = 0; i < 20; i++) {
        const tree = await targets.postgres(params.postgres).blockingTree();
        if (!result.signalled.some((p) => tree.roots.includes(p))) return { ok: true, detail: "the blocker no longer blocks anyone" };
        await new Promise((r) => setTimeout(r, 250));
      }
      return { ok: false, detail: "the blocker still blocks; consider terminating it" };
    },
    irreversible: "a cancelled statement's transaction is rolled back by Postgres; the client must retry it",
  })
  .act("terminate-blocker", {
    description: "pg_terminate_backend of a blocker idle in transaction: only ending its session releases its locks.",
    risk: "high",
    permissions: ["postgres:pg_signal_backend"],
    when: [
      { if: ({ outputs }) => outputs.blocker.pid !== null, reason: "no session blocks another right now" },
      { if: ({ outputs }) => outputs.blocker.idle, reason: "the blocker is running a query: cancelling it is enough" },
    ],
    locks: ({ params }) => [`postgres:${params.postgres}/backends`],
    manual: ["psql -c 'select pg_terminate_backend(<blocker pid>)'"],
    preview: async ({ params, outputs, targets }) => {
      const r = await targets.postgres(params.postgres).terminateBackends({ pids: [outputs.blocker.pid!], blockingOthers: true, database: params.database }, { dryRun: true });
      return { summary: r.summary, diff: r.diff, data: { pids: r.backends.map((b) => b.pid) } };
    },
    run: ({ params, targets, previewData }) =>
      targets.postgres(params.postgres).terminateBackends({ pids: (previewData as { pids: number[] }).pids, blockingOthers: true }),
    verify: async ({ params, targets, result }) => {
      for (let i = 0; i < 20; i++) {
        const tree = await targets.postgres(params.postgres).blockingTree();
        if (!result.signalled.some((p) => tree.nodes.some((n) => n.pid === p))) return { ok: true, detail: "the blocker is gone" };
        await new Promise((r) => setTimeout(r, 250));
      }
      return { ok: false, detail: "the blocker is still there" };
    },
    irreversible: "a terminated session's open transaction is rolled back by Postgres; it cannot be resumed",
  })
  .diagnose("after", {
    description: "The lock tree after the change.",
    run: ({ params, targets }) => targets.postgres(params.postgres).blockingTree(),
  })
  .notify("summary", {
    message: ({ outputs }) =>
      outputs.blocker.pid === null
        ? "No blocking locks now."
        : `Blocker pid ${outputs.blocker.pid} (${outputs.blocker.state}) held up ${outputs.blocker.blocking} sessions: ${outputs.blocker.query.slice(0, 100)}. Set lock_timeout / idle_in_transaction_session_timeout for that client.`,
  });
