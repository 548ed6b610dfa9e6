import { playbook, target, z } from "../src/sdk/index.ts";

/** A replica falls behind. Diagnose only: the usual causes (long queries on the replica, WAL bursts, a slow network or disk) need a human. */
export default playbook({
  id: "postgres-replication-lag",
  title: "Postgres replication lag: where and why",
  summary: "Reads lag per replica (bytes and write/flush/replay time), replication slots and the WAL they retain, and long-running queries that can hold replay back.",
  failureModes: ["postgres-replication-lag"],
  symptoms: [
    "Reads from replicas return stale data",
    "PostgresqlReplicationLag firing; pg_stat_replication replay_lag growing",
    "An inactive replication slot retaining WAL, disk filling on the primary",
  ],
  match: [
    { alertname: /^(PostgresqlReplicationLag|PostgresReplicationLagHigh|PostgresqlReplicationLagBytes|PostgresqlReplicationSlotLag)$/ },
    { text: /replication lag|replica (is )?(behind|lagging)|replay lag/i },
  ],
  params: z.object({
    postgres: target("postgres"),
    /** The replica, to look at its side too (replay delay, queries holding replay back). */
    replica: z.string().optional(),
  }),
})
  .diagnose("primary", {
    description: "Lag per replica and replication slots, from the primary.",
    manual: [
      "psql -c \"select application_name, client_addr, state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) as lag_bytes, write_lag, flush_lag, replay_lag from pg_stat_replication\"",
      "psql -c \"select slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) from pg_replication_slots\"",
    ],
    run: ({ params, targets }) => targets.postgres(params.postgres).replication(),
  })
  .diagnose("replica", {
    description: "The replica's replay delay.",
    when: { if: ({ params }) => params.replica !== undefined, reason: "no replica target was given" },
    manual: ["psql -h <replica> -c 'select now() - pg_last_xact_replay_timestamp()'"],
    run: ({ params, targets }) => targets.postgres(params.replica!).replication(),
  })
  .diagnose("replica-long-queries", {
    description: "Long queries on the replica: with hot_standby_feedback or max_standby_streaming_delay they hold replay back.",
    when: { if: ({ params }) => params.replica !== undefined, reason: "no replica target was given" },
    run: ({ params, targets }) => targets.postgres(params.replica!).longRunningQueries({ olderThanSec: 60 }),
  })
  .notify("findings", {
    message: ({ outputs }) => {
      const worst = [...outputs.primary.replicas].sort((a, b) => (b.lagBytes ?? 0) - (a.lagBytes ?? 0))[0];
      const slots = outputs.primary.slots.filter((s) => !s.active);
      return `${outputs.primary.replicas.length} replicas; worst ${worst ? `${worst.application} ${Math.round((worst.lagBytes ?? 0) / 1024 / 1024)} MiB, replay ${worst.replayLagSec ?? "?"} s` : "none connected"}.${slots.length ? ` Inactive slots retaining WAL: ${slots.map((s) => s.name).join(", ")}.` : ""}`;
    },
  });
