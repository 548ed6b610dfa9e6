import { playbook, target, z } from "../src/sdk/index.ts";

/**
 * Transaction-id age approaching wraparound. Show the oldest databases and tables, and what
 * keeps autovacuum from freezing them (long transactions), then VACUUM (FREEZE) the oldest table.
 */
export default playbook({
  id: "postgres-xid-wraparound-freeze",
  title: "Postgres xid wraparound approaching: VACUUM (FREEZE) the oldest table",
  summary: "Reads xid age per database and the oldest tables, autovacuum workers and long transactions that hold the horizon back, then runs VACUUM (FREEZE) on the oldest table (or the one given).",
  failureModes: ["xid-wraparound", "autovacuum-stalled"],
  symptoms: [
    "age(datfrozenxid) past autovacuum_freeze_max_age and climbing",
    "Warnings: 'database must be vacuumed within N transactions'",
    "Anti-wraparound autovacuums running for hours",
  ],
  match: [
    { alertname: /^(PostgresqlTxidWraparound|PostgresXidWraparound|PostgresqlHighXidAge|PostgresTxIDWraparoundRisk)$/ },
    { alertname: /^(PostgresqlTableNotAutoVacuumed|PostgresqlTableNotVacuumed)$/, weight: 0.6 },
    { text: /wraparound|must be vacuumed within|xid age|datfrozenxid/i },
  ],
  params: z.object({
    postgres: target("postgres"),
    /** `schema.table`; defaults to the oldest table of the connected database. */
    table: z.string().optional(),
  }),
})
  .diagnose("xid-age", {
    description: "xid age per database and the oldest tables.",
    manual: [
      "psql -c 'select datname, age(datfrozenxid) from pg_database order by 2 desc'",
      "psql -c \"select c.oid::regclass, age(c.relfrozenxid), pg_size_pretty(pg_total_relation_size(c.oid)) from pg_class c where relkind in ('r','m','t') order by 2 desc limit 10\"",
    ],
    run: ({ params, targets }) => targets.postgres(params.postgres).xidAge({ tables: 10 }),
  })
  .diagnose("autovacuum", {
    description: "Autovacuum workers and what they are doing.",
    manual: ["psql -c 'select * from pg_stat_progress_vacuum'"],
    run: ({ params, targets }) => targets.postgres(params.postgres).autovacuum(),
  })
  .diagnose("horizon", {
    description: "Long transactions: freezing cannot pass the oldest running transaction.",
    manual: ["psql -c \"select pid, now()-xact_start, state, left(query,80) from pg_stat_activity where xact_start is not null order by xact_start limit 5\""],
    run: async ({ params, targets }) => {
      const pg = targets.postgres(params.postgres);
      return { idleInTransaction: await pg.idleInTransaction({ olderThanSec: 300 }), longQueries: await pg.longRunningQueries({ olderThanSec: 300 }) };
    },
  })
  .act("vacuum-freeze", {
    description: "VACUUM (FREEZE) of one table; reads it whole, so it takes I/O for a while.",
    risk: "medium",
    permissions: ["postgres:table owner or MAINTAIN"],
    timeoutMs: 4 * 60 * 60_000,
    when: { if: ({ params, outputs }) => params.table !== undefined || outputs["xid-age"].tables.length > 0, reason: "no table was given and none was found old enough to freeze" },
    locks: ({ params, outputs }) => [`postgres:${params.postgres}/tables/${params.table ?? outputs["xid-age"].tables[0]?.table}`],
    manual: ["psql -c 'VACUUM (FREEZE, VERBOSE) <schema>.<table>'"],
    preview: async ({ params, outputs, targets }) => {
      const oldest = outputs["xid-age"].tables[0]!;
      const table = params.table ?? { schema: oldest.schema, name: oldest.name };
      const v = await targets.postgres(params.postgres).vacuumFreeze(table, { dryRun: true });
      return { summary: v.summary, data: { table } };
    },
    run: ({ params, targets, previewData }) =>
      targets.postgres(params.postgres).vacuumFreeze((previewData as { table: string | { schema: string; name: string } }).table),
    verify: ({ result }) => ({ ok: result.ageAfter !== null && result.ageAfter < result.ageBefore, detail: `age ${result.ageBefore} -> ${result.ageAfter}` }),
    irreversible: "freezing only marks old tuples as visible to all; there is nothing to undo",
  })
  .notify("follow-up", {
    message: ({ outputs }) => {
      const db = outputs["xid-age"].databases[0];
      return `Oldest database ${db?.database} at xid age ${db?.age} (${db?.pctToWraparound}% of wraparound). Repeat for the next oldest tables, end long transactions, and tune autovacuum_freeze_max_age / vacuum cost limits.`;
    },
  });
