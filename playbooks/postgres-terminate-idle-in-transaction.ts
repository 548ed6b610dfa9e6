import { playbook, target, z } from "../src/sdk/index.ts";

/**
 * Connections near max_connections, held by sessions idle in transaction (a client that
 * began a transaction and never finished it). They also hold locks and block vacuum.
 * Terminate the ones older than N minutes; their transactions roll back.
 */
export default playbook({
  id: "postgres-terminate-idle-in-transaction",
  title: "Postgres connections exhausted: terminate idle-in-transaction sessions",
  summary: "Shows connections against max_connections by state, user and application, lists sessions idle in transaction, then terminates those older than the threshold (exactly the pids the preview named).",
  failureModes: ["postgres-connections-exhausted", "connection-storm"],
  symptoms: [
    "Clients fail with 'FATAL: sorry, too many clients already' or 'remaining connection slots are reserved'",
    "Many sessions in state 'idle in transaction' for minutes",
    "PostgresqlTooManyConnections firing",
  ],
  match: [
    { alertname: /^(PostgresqlTooManyConnections|PostgresTooManyConnections|PostgreSQLMaxConnectionsReached)$/ },
    { alertname: /^(PostgresqlIdleInTransaction|PostgresLongIdleInTransaction)$/ },
    { text: /too many clients|remaining connection slots|idle in transaction|max_connections/i },
  ],
  params: z.object({
    postgres: target("postgres"),
    olderThanMinutes: z.number().min(0).default(10),
    database: z.string().optional(),
    user: z.string().optional(),
    application: z.string().optional(),
    max: z.number().int().min(1).max(1000).default(100),
    /** Verify holds once connections are below this share of max_connections (the published PostgresqlTooManyConnections fires above 0.8). */
    belowRatio: z.number().gt(0).max(1).default(0.8).describe("verify holds once connections are below this share of max_connections"),
  }),
  fromAlert: (a) => ({
    ...(a.labels.datname ? { database: a.labels.datname } : {}),
  }),
})
  .diagnose("connections", {
    description: "Used vs max_connections, by state, user, application and database.",
    manual: [
      "psql -c \"select state, usename, application_name, count(*) from pg_stat_activity group by 1,2,3 order by 4 desc\"",
      "psql -c 'show max_connections'",
    ],
    run: ({ params, targets }) => targets.postgres(params.postgres).connections(),
  })
  .diagnose("idle-in-transaction", {
    description: "Sessions idle in transaction past the threshold, oldest first.",
    manual: [
      "psql -c \"select pid, usename, application_name, now()-xact_start as age, left(query,80) from pg_stat_activity where state like 'idle in transaction%' order by xact_start\"",
    ],
    run: ({ params, targets }) => targets.postgres(params.postgres).idleInTransaction({ olderThanSec: params.olderThanMinutes * 60 }),
  })
  .act("terminate", {
    description: "pg_terminate_backend for each listed session still idle in transaction; Postgres rolls their transactions back.",
    risk: "medium",
    permissions: ["postgres:pg_signal_backend"],
    // Only sessions the preview's filter would pick: the diagnose lists every database, user and application.
    when: {
      if: ({ params, outputs }) =>
        outputs["idle-in-transaction"].some(
          (b) => (params.database === undefined || b.database === params.database) && (params.user === undefined || b.user === params.user) && (params.application === undefined || b.application === params.application),
        ),
      reason: ({ params, outputs }) =>
        `no session${params.database ? ` on ${params.database}` : ""}${params.user ? ` of ${params.user}` : ""}${params.application ? ` from ${params.application}` : ""} has been idle in transaction for ${params.olderThanMinutes} min or more (connections ${outputs.connections.used}/${outputs.connections.max}; ${outputs["idle-in-transaction"].length} idle in transaction that long in all)`,
    },
    locks: ({ params }) => [`postgres:${params.postgres}/backends`],
    manual: [
      "psql -c \"select pg_terminate_backend(pid) from pg_stat_activity where state = 'idle in transaction' and xact_start < now() - interval '{olderThanMinutes} minutes'\"",
    ],
    preview: async ({ params, targets }) => {
      const r = await targets.postgres(params.postgres).terminateBackends(
        { state: "idle in transaction", olderThanSec: params.olderThanMinutes * 60, database: params.database, user: params.user, application: params.application, max: params.max },
        { dryRun: true },
      );
      return { summary: r.summary, diff: r.diff, data: { pids: r.backends.map((b) => b.pid) } };
    },
    // The pids the preview named, and only while they are still idle in transaction past the threshold.
    run: ({ params, targets, previewData }) =>
      targets.postgres(params.postgres).terminateBackends({
        pids: (previewData as { pids: number[] }).pids,
        state: "idle in transaction",
        olderThanSec: params.olderThanMinutes * 60,
        max: params.max,
      }),
    // The symptom, not only the signal: the sessions are gone and connections are below the threshold.
    verify: async ({ params, targets, result }) => {
      const pg = targets.postgres(params.postgres);
      let left = result.signalled.length;
      // Termination is asynchronous: give the backends a moment to exit.
      for (let i = 0; i < 20 && left > 0; i++) {
        left = (await pg.idleInTransaction()).filter((b) => result.signalled.includes(b.pid)).length;
        if (left > 0) await new Promise((r) => setTimeout(r, 250));
      }
      const c = await pg.connections();
      const below = c.used < c.max * params.belowRatio;
      const gone = left === 0 ? `${result.signalled.length} sessions terminated` : `${left} of ${result.signalled.length} terminated sessions are still there`;
      return { ok: left === 0 && below, detail: `${gone}; connections ${c.used}/${c.max} (${below ? "below" : "still at or above"} ${Math.round(params.belowRatio * 100)}% of max_connections)` };
    },
    irreversible: "a terminated session's open transaction is rolled back by Postgres; it cannot be resumed",
  })
  .diagnose("after", {
    description: "Connections after the change.",
    run: ({ params, targets }) => targets.postgres(params.postgres).connections(),
  })
  .notify("follow-up", {
    message: ({ params, outputs }) =>
      `Connections ${outputs.connections.used}/${outputs.connections.max} -> ${outputs.after.used}/${outputs.after.max} on ${params.postgres}. Set idle_in_transaction_session_timeout and fix the client that leaves transactions open (top: ${outputs.connections.byApplication[0]?.key ?? "?"}).`,
  });
