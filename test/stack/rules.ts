/**
 * Alerting rules for the stack suite, written after the published awesome-prometheus-alerts
 * rule sets (https://samber.github.io/awesome-prometheus-alerts/, files
 * dist/rules/redis/oliver006-redis-exporter.yml and dist/rules/postgresql/postgres-exporter.yml
 * of github.com/samber/awesome-prometheus-alerts): the same alert names, expressions and
 * labels; only `for` is shortened (2m -> 1s) so the suite runs in minutes.
 *
 * Left out on purpose: rules that fire on any quiet test instance and would open incidents
 * no scenario causes (RedisNotEnoughConnections, PostgresqlNotEnoughConnections,
 * PostgresqlCommitRateLow, PostgresqlLowXidConsumption), replication and backup rules
 * (no replicas, no RDB here), and table, bloat and lock rules that need data nobody writes.
 */
export interface Rule {
  alert: string;
  expr: string;
  for: string;
  severity: string;
  summary: string;
}

export const redisRules: Rule[] = [
  { alert: "RedisDown", expr: "redis_up == 0", for: "0m", severity: "critical", summary: "Redis down (instance {{ $labels.instance }})" },
  {
    alert: "RedisMissingMaster",
    expr: '(count(redis_instance_info{role="master"}) or vector(0)) < 1',
    for: "0m",
    severity: "critical",
    summary: "Redis missing master (instance {{ $labels.instance }})",
  },
  {
    alert: "RedisOutOfConfiguredMaxmemory",
    expr: "redis_memory_used_bytes / redis_memory_max_bytes * 100 > 90",
    for: "1s",
    severity: "warning",
    summary: "Redis out of configured maxmemory (instance {{ $labels.instance }})",
  },
  { alert: "RedisTooManyConnections", expr: "redis_connected_clients > 100", for: "1s", severity: "warning", summary: "Redis too many connections (instance {{ $labels.instance }})" },
  {
    alert: "RedisRejectedConnections",
    expr: "increase(redis_rejected_connections_total[1m]) > 0",
    for: "0m",
    severity: "critical",
    summary: "Redis rejected connections (instance {{ $labels.instance }})",
  },
];

export const postgresRules: Rule[] = [
  { alert: "PostgresqlDown", expr: "pg_up == 0", for: "0m", severity: "critical", summary: "Postgresql down (instance {{ $labels.instance }})" },
  {
    alert: "PostgresqlTooManyConnections",
    expr: "sum by (instance, job, server) (pg_stat_activity_count) > min by (instance, job, server) (pg_settings_max_connections * 0.8)",
    for: "1s",
    severity: "warning",
    summary: "Postgresql too many connections (instance {{ $labels.instance }})",
  },
];

/** The rules file Prometheus reads (JSON is YAML). */
export function rulesFile(): string {
  const group = (name: string, rules: Rule[]) => ({
    name,
    rules: rules.map((r) => ({
      alert: r.alert,
      expr: r.expr,
      for: r.for,
      labels: { severity: r.severity },
      annotations: { summary: r.summary, description: "VALUE = {{ $value }}\n  LABELS = {{ $labels }}" },
    })),
  });
  return JSON.stringify({ groups: [group("Oliver006RedisExporter", redisRules), group("PostgresExporter", postgresRules)] }, null, 2);
}
