import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { BelayError } from "./errors.ts";
import { approvalPolicySchema, RISKS, type ApprovalPolicy } from "./approve/policy.ts";
import { People, peopleSchema } from "./identity/people.ts";
import { nearest, unknownKeys } from "./strict-keys.ts";
import { PATH_VARIABLES, PROJECT_ROOT } from "./paths.ts";

/**
 * The only file that reads process.env. Everything is validated once at start; a bad value
 * is an error naming the variable and what it should look like.
 */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.string().url().optional(),
  BELAY_DATA_DIR: z.string().min(1).default(join(PROJECT_ROOT, ".belay")),
  BELAY_CONFIG: z.string().min(1).optional(),
  BELAY_PLAYBOOKS_DIR: z.string().min(1).default(join(PROJECT_ROOT, "playbooks")),
  BELAY_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** How long a shutdown lets act steps in progress finish (below the pod's termination grace period). */
  BELAY_DRAIN_TIMEOUT_SECONDS: z.coerce.number().min(0).max(3_600).default(25),
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
  /** Signs each audit event (HMAC) with a key the database never sees; `belay audit verify` checks them. */
  BELAY_AUDIT_HMAC_KEY: z.string().min(32, "must be at least 32 characters (openssl rand -hex 32)").optional(),
  /** A PagerDuty delivery whose occurred_at is older than this is acknowledged but ignored (a replay). */
  BELAY_WEBHOOK_MAX_AGE_SECONDS: z.coerce.number().int().min(60).max(7 * 86_400).default(3600),
  /** Alerts naming the same service and failure mode within this many seconds join one incident (0: off). */
  BELAY_INCIDENT_WINDOW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  /** A resolved incident about a target is reopened by a related alert this soon, and its proposals wait as long before being withdrawn (0: off). */
  BELAY_RESOLVE_SETTLE_SECONDS: z.coerce.number().int().min(0).max(3_600).default(30),
  /** Minutes after a verified fix when the thread is told which of the incident's alerts still fire (0: off). */
  BELAY_WATCH_AFTER_FIX_MINUTES: z.coerce.number().min(0).max(1440).default(10),
  /** Seals secret params and secret-bearing step outputs in the store (AES-256-GCM): 32 bytes, hex or base64. */
  BELAY_SECRET_KEY: z.string().refine(isKey32, "must be 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)").optional(),
  /** Earlier keys, comma separated, still accepted for opening what they sealed (rotation). */
  BELAY_SECRET_KEYS_OLD: z
    .string()
    .refine((v) => v.split(",").every((k) => isKey32(k.trim())), "must be comma-separated 32-byte keys (hex or base64)")
    .optional(),
  // The console's sign-in (src/console/auth). Cross-checked in consoleConfig(): all of OIDC or none.
  /** Where people reach belay, e.g. https://belay.example.com: the OIDC redirect and the same-origin check. */
  BELAY_PUBLIC_URL: z.string().url("must be belay's address as people reach it, e.g. https://belay.example.com").optional(),
  BELAY_OIDC_ISSUER: z.string().url("must be the OpenID provider's issuer URL, e.g. https://accounts.google.com").optional(),
  BELAY_OIDC_CLIENT_ID: z.string().min(1).optional(),
  BELAY_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** Signs and seals console session cookies; checked (length) in consoleConfig so its message names it readably. */
  BELAY_CONSOLE_SESSION_KEY: z.string().optional(),
  BELAY_CONSOLE_SESSION_HOURS: z.coerce.number().min(0.25, "must be at least 0.25 (15 minutes)").max(168, "must be at most 168 (a week)").default(8),
});

function isKey32(text: string): boolean {
  const t = text.trim();
  return /^[0-9a-f]{64}$/i.test(t) || (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t) && Buffer.from(t, "base64").length === 32);
}

export type Env = z.infer<typeof envSchema>;

/** Alert labels that identify a target: each an exact value, or "/regex/" (anchored, as in Prometheus). */
const targetLabelsSchema = z
  .record(z.string(), z.string().refine((v) => !/^\/.*\/$/s.test(v) || isRegex(v.slice(1, -1)), "is not a valid /regex/"))
  .optional();
function isRegex(src: string): boolean {
  try {
    return new RegExp(src) instanceof RegExp;
  } catch {
    return false;
  }
}

/** A live drill injects faults only into targets marked `drill: true`. */
const drillSchema = z.boolean().optional();

const targetSchema = z.object({
  redis: z.record(z.string(), z.object({ url: z.string().min(1), labels: targetLabelsSchema, drill: drillSchema })).default({}),
  postgres: z.record(z.string(), z.object({ url: z.string().min(1), labels: targetLabelsSchema, drill: drillSchema })).default({}),
  kube: z
    .record(
      z.string(),
      z.object({
        kubeconfig: z.string().optional(),
        context: z.string().optional(),
        server: z.string().optional(),
        token: z.string().optional(),
        skipTLSVerify: z.boolean().optional(),
        labels: targetLabelsSchema,
        drill: drillSchema,
      }),
    )
    .default({}),
  /** Read-only: what the alert's metric says (query / queryRange over the HTTP API). */
  prometheus: z.record(z.string(), z.object({ url: z.string().url("must be the server's base URL, e.g. http://prometheus:9090") })).default({}),
});

const fileSchema = z.object({
  targets: targetSchema.default({ redis: {}, postgres: {}, kube: {}, prometheus: {} }),
  /** Canonical person id -> { slack, email, login, pagerduty }: one person across surfaces. */
  people: peopleSchema,
  approval: approvalPolicySchema.prefault({}),
  pagerduty: z
    .object({
      /** Acknowledging a PagerDuty incident from Slack needs the authority of an approval of this risk. */
      acknowledgeRisk: z.enum(["low", "medium", "high"]).default("low"),
    })
    .default({ acknowledgeRisk: "low" }),
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

/** The console's sign-in settings, checked together. `oidc` null: the console is read-only and loopback-only. */
export interface ConsoleConfig {
  /** BELAY_PUBLIC_URL's origin (`https://belay.example.com`), or null when unset. */
  publicOrigin: string | null;
  oidc: { issuer: string; clientId: string; clientSecret: string } | null;
  /** The session key's bytes; null: none configured (a random key per process, sessions end on restart). */
  sessionKey: Buffer | null;
  sessionHours: number;
}

const OIDC_VARS = ["BELAY_OIDC_ISSUER", "BELAY_OIDC_CLIENT_ID", "BELAY_OIDC_CLIENT_SECRET", "BELAY_PUBLIC_URL"] as const;

/**
 * Cross-checks the console's variables. Messages put the variable's name before a verb, never
 * before a colon: the redaction at the sinks takes "..._SECRET: x" for a secret and eats x.
 *
 * Without BELAY_CONSOLE_SESSION_KEY the console makes a random key per process (sessions end
 * on restart). With DATABASE_URL set, replicas are possible and would not share it, so a key
 * is then required.
 */
export function consoleConfig(env: Env): ConsoleConfig {
  const fail = (msg: string): never => {
    throw new BelayError("config.invalid", msg);
  };
  const all = "the console's sign-in needs BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET and BELAY_PUBLIC_URL; unset all of the BELAY_OIDC_ variables for a read-only console";
  const oidcSet = OIDC_VARS.slice(0, 3).filter((k) => env[k] !== undefined);
  if (oidcSet.length > 0) {
    const missing = OIDC_VARS.find((k) => env[k] === undefined);
    if (missing) fail(`${missing} is required when ${oidcSet[0]} is set (${all})`);
  }
  if (env.BELAY_OIDC_ISSUER) {
    const u = new URL(env.BELAY_OIDC_ISSUER);
    if (u.protocol !== "https:" && !(u.protocol === "http:" && isLoopbackHost(u.hostname))) {
      fail(`BELAY_OIDC_ISSUER must be an https:// address (http:// only on a loopback address, for tests), not ${u.origin}`);
    }
  }
  let publicOrigin: string | null = null;
  if (env.BELAY_PUBLIC_URL) {
    const u = new URL(env.BELAY_PUBLIC_URL);
    if (u.protocol !== "https:" && u.protocol !== "http:") fail(`BELAY_PUBLIC_URL must be an http:// or https:// address, not ${u.protocol}`);
    if (u.pathname !== "/" || u.search || u.hash) fail(`BELAY_PUBLIC_URL must be an origin without a path (e.g. ${u.origin}); the console lives at /console/ under it`);
    publicOrigin = u.origin;
  }
  let sessionKey: Buffer | null = null;
  if (env.BELAY_CONSOLE_SESSION_KEY !== undefined) {
    sessionKey = Buffer.from(env.BELAY_CONSOLE_SESSION_KEY, "utf8");
    if (sessionKey.length < 32) fail(`BELAY_CONSOLE_SESSION_KEY is too short (${sessionKey.length} bytes); it must be at least 32 bytes, e.g. from openssl rand -base64 32`);
  }
  const oidc = oidcSet.length > 0 ? { issuer: env.BELAY_OIDC_ISSUER!, clientId: env.BELAY_OIDC_CLIENT_ID!, clientSecret: env.BELAY_OIDC_CLIENT_SECRET! } : null;
  if (oidc && !sessionKey && env.DATABASE_URL) {
    fail("BELAY_CONSOLE_SESSION_KEY is required when BELAY_OIDC_ISSUER and DATABASE_URL are set: replicas sharing the database must share the session key (openssl rand -base64 32)");
  }
  return { publicOrigin, oidc, sessionKey, sessionHours: env.BELAY_CONSOLE_SESSION_HOURS };
}

/** 127.0.0.0/8, ::1 and localhost: the only hosts an http:// issuer may be on. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export interface Config {
  env: Env;
  /** The console's sign-in settings (from env, cross-checked). */
  console: ConsoleConfig;
  file: FileConfig;
  /** The approval policy, every person in it a canonical id. */
  approval: ApprovalPolicy;
  people: People;
}

function formatIssues(issues: z.core.$ZodIssue[], prefix: string): string {
  // A bad record key (a person's canonical id) carries its own reasons; zod's message is only "Invalid key in record".
  const messageOf = (i: z.core.$ZodIssue) => (i.code === "invalid_key" && i.issues.length ? i.issues.map((x) => x.message).join("; ") : i.message);
  return issues.map((i) => `  ${prefix}${i.path.join(".") || "(root)"}: ${messageOf(i)}`).join("\n");
}

export function loadEnv(source: NodeJS.ProcessEnv | Record<string, string | undefined>): Env {
  // Empty strings in a .env file mean "not set", not "set to nothing".
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    // One line per variable: "NAME is not valid: why; what to do".
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")} is not valid: ${whyInvalid(i, cleaned[String(i.path[0])])}; fix it in the environment or .env (.env.example lists every variable)`);
    throw new BelayError("config.invalid", [...new Set(lines)].join("\n"));
  }
  // Relative paths are the project's, not the working directory's (src/paths.ts).
  const env = parsed.data;
  for (const name of PATH_VARIABLES) if (env[name] !== undefined) env[name] = resolve(PROJECT_ROOT, env[name]);
  return env;
}

/** Variables whose value must never be echoed back, even in an error. */
const SECRET_VARIABLE = /TOKEN|SECRET|KEY|PASSWORD|DATABASE_URL/;

function whyInvalid(issue: z.core.$ZodIssue, value: string | undefined): string {
  const name = String(issue.path[0] ?? "");
  const shown = value !== undefined && !SECRET_VARIABLE.test(name) ? ` (it is "${value.length > 60 ? `${value.slice(0, 57)}...` : value}")` : "";
  // A message written in the schema above says it best; zod's own wording is replaced.
  if (!/^(Invalid|Too (small|big))/.test(issue.message)) return `${issue.message}${shown}`;
  if (issue.code === "invalid_type" && issue.expected === "number") return `must be a number${shown}`;
  if (issue.code === "invalid_type" && issue.expected === "int") return `must be a whole number${shown}`;
  if (issue.code === "invalid_format" && issue.format === "url") return `must be a URL${shown}`;
  if (issue.code === "invalid_format" && issue.format === "email") return `must be an email address${shown}`;
  if (issue.code === "too_small") return `must be at least ${String(issue.minimum)}${shown}`;
  if (issue.code === "too_big") return `must be at most ${String(issue.maximum)}${shown}`;
  if (issue.code === "invalid_value") return `must be one of ${issue.values.map(String).join(", ")}${shown}`;
  return `${issue.message}${shown}`;
}

export function parseFileConfig(text: string, path: string): FileConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    // The yaml library's message carries a code frame over several lines; one line, with where.
    const e = err as Error & { linePos?: { line: number; col: number }[] };
    const first = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "").replace(/:$/, "");
    const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : "";
    throw new BelayError("config.invalid", `BELAY_CONFIG ${path} is not valid YAML${at}: ${first}; fix the file, or unset BELAY_CONFIG to run on defaults`);
  }
  const unknown = unknownKeys(fileSchema, raw);
  if (unknown.length > 0) {
    const lines = unknown.map((u) => `  ${u.path}: unknown key${u.suggestion ? ` (did you mean ${u.suggestion}?)` : ""}`);
    throw new BelayError("config.invalid", `BELAY_CONFIG ${path} is invalid:\n${lines.join("\n")}\nbelay refuses keys it does not know rather than ignore them; README "Configuration" lists every key.`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BelayError(
      "config.invalid",
      `BELAY_CONFIG ${path} is invalid:\n${formatIssues(parsed.error.issues, "")}`,
    );
  }
  const file = parsed.data;
  const problems = resolvePeople(file);
  if (problems.length > 0) throw new BelayError("config.invalid", `BELAY_CONFIG ${path} is invalid:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  return file;
}

/** A Slack user group id named directly in a rule: long enough that a typo of a group name (`SRE`) never passes for one. */
const SLACK_USERGROUP_ID = /^S[A-Z0-9]{6,}$/;

/**
 * Every person and group the config names must exist. People (approvers, group members,
 * break-glass lists) may be named by canonical id or any identity mapped to one; they are
 * rewritten to canonical ids here, so the policy compares people, not spellings.
 */
function resolvePeople(file: FileConfig): string[] {
  const people = new People(file.people);
  const problems = people.duplicates.map((d) => `people: ${d.identity} belongs to both ${d.people[0]} and ${d.people[1]}`);
  const resolve = (refs: string[], at: string): string[] =>
    refs.map((ref, i) => {
      const id = people.resolveReference(ref);
      if (id) return id;
      const near = nearest(ref, people.ids());
      problems.push(`${at}[${i}]: no person "${ref}" in people:${near ? ` (did you mean ${near}?)` : ""}; name a person from people:, an identity mapped there, a Slack user id (U...) or os:<login>`);
      return ref;
    });
  const policy = file.approval;
  for (const [g, members] of Object.entries(policy.groups)) policy.groups[g] = resolve(members, `approval.groups.${g}`);
  const groups = [...Object.keys(policy.groups), ...Object.keys(file.slack.usergroups)];
  for (const risk of RISKS) {
    const rule = policy.risks[risk];
    rule.users = resolve(rule.users, `approval.risks.${risk}.users`);
    rule.groups.forEach((g, i) => {
      if (groups.includes(g) || SLACK_USERGROUP_ID.test(g)) return;
      const near = nearest(g, groups) ?? groups.find((n) => n.toLowerCase() === g.toLowerCase());
      problems.push(
        `approval.risks.${risk}.groups[${i}]: no group "${g}"${near ? ` (did you mean ${near}?)` : ""}; define it under approval.groups or slack.usergroups, or name a Slack user group id (S followed by at least 6 capitals or digits, e.g. S0123ABCD)`,
      );
    });
  }
  if (Array.isArray(policy.breakGlass.allowed)) policy.breakGlass.allowed = resolve(policy.breakGlass.allowed, "approval.breakGlass.allowed");
  return problems;
}

export function loadConfig(source: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env): Config {
  const env = loadEnv(source);
  const consoleSettings = consoleConfig(env);
  let file = fileSchema.parse({});
  if (env.BELAY_CONFIG) {
    let text: string;
    try {
      text = readFileSync(env.BELAY_CONFIG, "utf8");
    } catch (err) {
      throw new BelayError(
        "config.invalid",
        `BELAY_CONFIG is not valid: ${env.BELAY_CONFIG} cannot be read (${(err as NodeJS.ErrnoException).code}); fix the path or unset it`,
      );
    }
    file = parseFileConfig(text, env.BELAY_CONFIG);
  }
  return { env, console: consoleSettings, file, approval: file.approval, people: new People(file.people) };
}
