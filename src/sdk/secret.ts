import type { z } from "zod";

const secrets = new WeakSet<object>();

/**
 * Marks a param as secret: it is redacted before anything is written (store, audit, logs, Slack).
 *
 * @example
 * params: z.object({ token: secret(z.string()) })
 */
export function secret<T extends z.ZodType>(schema: T): T {
  secrets.add(schema);
  return schema;
}

export function isSecretSchema(schema: unknown): boolean {
  return typeof schema === "object" && schema !== null && secrets.has(schema);
}
