import { z } from "zod";

/**
 * The one normalised alert every source becomes (Alertmanager, PagerDuty, Slack, drills).
 *
 * @example
 * const alert: Alert = alertSchema.parse({ source: "alertmanager", fingerprint: "a1", status: "firing",
 *   title: "RedisOutOfConfiguredMaxmemory", labels: { alertname: "RedisOutOfConfiguredMaxmemory" } });
 */
export const alertSchema = z.object({
  source: z.enum(["alertmanager", "pagerduty", "slack", "manual", "drill"]),
  fingerprint: z.string().min(1).max(512),
  status: z.enum(["firing", "resolved"]),
  title: z.string().max(4096).default(""),
  service: z.string().max(512).nullable().default(null),
  severity: z.enum(["critical", "error", "warning", "info"]).nullable().default(null),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  links: z.array(z.object({ href: z.string(), text: z.string().default("") })).default([]),
  startsAt: z.string().nullable().default(null),
  endsAt: z.string().nullable().default(null),
  /** The PromQL expression that fired (`g0.expr` of Alertmanager's generatorURL), for steps that read the metric. */
  expr: z.string().max(16_384).nullable().optional(),
  /** Alertmanager groupKey or PagerDuty incident id: what groups alerts into one incident. */
  groupKey: z.string().nullable().default(null),
  /** The sender's own id for the thing (PagerDuty incident id, ...). */
  externalId: z.string().nullable().default(null),
  /** True for game-day drills: never page real services for these. */
  drill: z.boolean().default(false),
});

/** A normalised alert. */
export type Alert = z.infer<typeof alertSchema>;
