import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { BelayError } from "./errors.ts";
import { approvalPolicySchema, type ApprovalPolicy } from "./approve/policy.ts";

/**
 * The only file that reads process.env. Everything is validated once at start; a bad value
 * is an error naming the variable and what it should look like.
 */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.string().url().optional(),
  BELAY_DATA_DIR: z.string().min(1).default("./.belay"),
  BELAY_CONFIG: z.string().min(1).optional(),
  BELAY_PLAYBOOKS_DIR: z.string().min(1).default("./playbooks"),
  BELAY_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SLACK_BOT_TOKEN: z.string().startsWith("xoxb-", "must be a bot token starting with xoxb-").optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().startsWith("xapp-", "must be an app-level token starting with xapp-").optional(),
  SLACK_API_URL: z.string().url().default("https://slack.com/api/"),
  PAGERDUTY_TOKEN: z.string().min(1).optional(),
  PAGERDUTY_FROM: z.string().email().optional(),
  PAGERDUTY_WEBHOOK_SECRET: z.string().min(1).optional(),
  PAGERDUTY_API_URL: z.string().url().default("https://api.pagerduty.com"),
  ALERTMANAGER_TOKEN: z.string().min(1).optional(),
  /** Webhook bodies larger than this are refused with 413. */
  BELAY_WEBHOOK_BODY_LIMIT: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Alerts naming the same service and failure mode within this many seconds join one incident (0: off). */
  BELAY_INCIDENT_WINDOW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  /** Seals secret params and secret-bearing step outputs in the store (AES-256-GCM): 32 bytes, hex or base64. */
  BELAY_SECRET_KEY: z.string().refine(isKey32, "must be 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)").optional(),
  /** Earlier keys, comma separated, still accepted for opening what they sealed (rotation). */
  BELAY_SECRET_KEYS_OLD: z
    .string()
    .refine((v) => v.split(",").every((k) => isKey32(k.trim())), "must be comma-separated 32-byte keys (hex or base64)")
    .optional(),
});

function isKey32(text: string): boolean {
  const t = text.trim();
  return /^[0-9a-f]{64}$/i.test(t) || (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t) && Buffer.from(t, "base64").length === 32);
}

export type Env = z.infer<typeof envSchema>;

const targetSchema = z.object({
  redis: z.record(z.string(), z.object({ url: z.string().min(1) })).default({}),
  postgres: z.record(z.string(), z.object({ url: z.string().min(1) })).default({}),
  kube: z
    .record(
      z.string(),
      z.object({
        kubeconfig: z.string().optional(),
        context: z.string().optional(),
        server: z.string().optional(),
        token: z.string().optional(),
        skipTLSVerify: z.boolean().optional(),
      }),
    )
    .default({}),
});

const fileSchema = z.object({
  targets: targetSchema.default({ redis: {}, postgres: {}, kube: {} }),
  approval: approvalPolicySchema.default(approvalPolicySchema.parse({})),
  slack: z
    .object({
      command: z.string().regex(/^\/[a-z0-9_-]+$/, "must look like /runbook").default("/runbook"),
      channel: z.string().optional(),
      /** Policy group name -> Slack user group id (S...), resolved with usergroups.users.list. */
      usergroups: z.record(z.string(), z.string().regex(/^S[A-Z0-9]+$/, "must be a Slack user group id like S0123ABCD")).default({}),
      /** How long a user group's membership is cached, in seconds. */
      usergroupCacheSeconds: z.number().int().min(0).max(86_400).default(300),
    })
    .default({ command: "/runbook", usergroups: {}, usergroupCacheSeconds: 300 }),
});

export type FileConfig = z.infer<typeof fileSchema>;
export type TargetConfig = FileConfig["targets"];

export interface Config {
  env: Env;
  file: FileConfig;
  approval: ApprovalPolicy;
}

function formatIssues(issues: z.core.$ZodIssue[], prefix: string): string {
  return issues.map((i) => `  ${prefix}${i.path.join(".") || "(root)"}: ${i.message}`).join("\n");
}

export function loadEnv(source: NodeJS.ProcessEnv | Record<string, string | undefined>): Env {
  // Empty strings in a .env file mean "not set", not "set to nothing".
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new BelayError(
      "config.invalid",
      `Invalid environment:\n${formatIssues(parsed.error.issues, "")}\nFix the variable(s) above; .env.example lists every one.`,
    );
  }
  return parsed.data;
}

export function parseFileConfig(text: string, path: string): FileConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new BelayError("config.invalid", `BELAY_CONFIG ${path} is not valid YAML/JSON: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BelayError(
      "config.invalid",
      `BELAY_CONFIG ${path} is invalid:\n${formatIssues(parsed.error.issues, "")}`,
    );
  }
  return parsed.data;
}

export function loadConfig(source: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): Config {
  const env = loadEnv(source);
  let file = fileSchema.parse({});
  if (env.BELAY_CONFIG) {
    let text: string;
    try {
      text = readFileSync(env.BELAY_CONFIG, "utf8");
    } catch (err) {
      throw new BelayError(
        "config.invalid",
        `BELAY_CONFIG points at ${env.BELAY_CONFIG}, which cannot be read (${(err as NodeJS.ErrnoException).code}). Fix the path or unset it.`,
      );
    }
    file = parseFileConfig(text, env.BELAY_CONFIG);
  }
  return { env, file, approval: file.approval };
}
