import { describe, expect, it } from "vitest";
import { isSecretKey, redact, redactText } from "../../src/audit/redact.ts";

/*
 * What a reviewer found getting through redaction: ConfigMap and env keys that name a secret
 * without saying "password", SQL text with a password in it (pg_stat_activity's query column,
 * which the Postgres diagnostics return), header forms, and a setting's name beside its value.
 * And what must still get through untouched.
 */

describe("secret key names", () => {
  it.each([
    "AWS_SECRET_ACCESS_KEY",
    "SECRET_KEY",
    "masterauth",
    "requirepass",
    "ENCRYPTION_KEY",
    "passphrase",
    "GPG_PASSPHRASE",
    "STRIPE_KEY",
    "SENDGRID_KEY",
    "stripe_api_key",
    "openaiApiKey",
    "signingKey",
    "BELAY_AUDIT_HMAC_KEY",
    "X-Api-Key",
    "X-Custom-Key",
    "X-Auth-Token",
    "api_keys",
    "secretkey",
    "DB_PWD",
    "credentials",
    "REDIS_PASSWORD",
  ])("%s is a secret's name", (k) => {
    expect(isSecretKey(k)).toBe(true);
  });

  it.each(["key", "keys", "keyspace", "monkey", "primary_key", "PRIMARY_KEY", "groupKey", "dedupeKey", "labelKey", "sort_key", "publicKey", "PWD", "tokens", "hot-key", "MIGRATION_LOCK_KEY", "big-keys", "delete-keys"])(
    "%s is not",
    (k) => {
      expect(isSecretKey(k)).toBe(false);
    },
  );

  it("a step named after keys keeps its status on the terminal (belay status printed `2. diagnose big-keys: [redacted]`)", () => {
    expect(redactText("  2. diagnose big-keys: ok")).toBe("  2. diagnose big-keys: ok");
    expect(redactText("delete-keys: skipped")).toBe("delete-keys: skipped");
  });

  it("JSON text stays JSON: a flag under a secret's name is kept, a bare secret value becomes a string", () => {
    const text = JSON.stringify({ secret: false, token: null, password: 123456, apiKey: "abc" }, null, 2);
    expect(JSON.parse(redactText(text))).toEqual({ secret: false, token: null, password: "[redacted]", apiKey: "[redacted]" });
  });

  it("redacts a ConfigMap's secret values and keeps the rest", () => {
    const cm = {
      data: {
        AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        SECRET_KEY: "django-insecure-abc123",
        masterauth: "s3cr3tRedis",
        ENCRYPTION_KEY: "0123456789abcdef",
        passphrase: "correct horse",
        STRIPE_KEY: "sk_live_51Habc",
        LOG_LEVEL: "info",
        primary_key: "id",
        keyspace: "db0",
      },
    };
    expect(redact(cm).data).toEqual({
      AWS_SECRET_ACCESS_KEY: "[redacted]",
      SECRET_KEY: "[redacted]",
      masterauth: "[redacted]",
      ENCRYPTION_KEY: "[redacted]",
      passphrase: "[redacted]",
      STRIPE_KEY: "[redacted]",
      LOG_LEVEL: "info",
      primary_key: "id",
      keyspace: "db0",
    });
  });

  it("redacts the value beside a secret setting's name (a container's env, a CONFIG change)", () => {
    const env = [
      { name: "DB_PASSWORD", value: "hunter2" },
      { name: "PORT", value: "8080" },
    ];
    expect(redact(env)).toEqual([
      { name: "DB_PASSWORD", value: "[redacted]" },
      { name: "PORT", value: "8080" },
    ]);
    expect(redact({ parameter: "requirepass", previous: "old-pw", value: "hunter2" })).toEqual({ parameter: "requirepass", previous: "[redacted]", value: "[redacted]" });
    expect(redact({ parameter: "maxmemory-policy", previous: "noeviction", value: "allkeys-lru" })).toEqual({ parameter: "maxmemory-policy", previous: "noeviction", value: "allkeys-lru" });
    expect(redact({ key: "user:42", type: "hash", bytes: 10 })).toEqual({ key: "user:42", type: "hash", bytes: 10 });
  });
});

describe("secrets in text", () => {
  it("SQL passwords, as pg_stat_activity shows them, also when the query text was cut off", () => {
    expect(redactText("ALTER ROLE app WITH PASSWORD 'hunter2'")).toBe("ALTER ROLE app WITH PASSWORD '[redacted]'");
    expect(redactText("CREATE USER bob PASSWORD 'md5abc' VALID UNTIL 'infinity'")).toBe("CREATE USER bob PASSWORD '[redacted]' VALID UNTIL 'infinity'");
    expect(redactText("alter role app encrypted password 'it''s'")).toBe("alter role app encrypted password '[redacted]'");
    expect(redactText("ALTER ROLE app PASSWORD 'hunter2-and-then-the-text-was-trunc")).toBe("ALTER ROLE app PASSWORD '[redacted]'");
    expect(redactText("CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'pw')")).toBe("CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password '[redacted]')");
    expect(redactText("select * from t where password_changed_at > now()")).toBe("select * from t where password_changed_at > now()");
  });

  it("header forms: X-Api-Key, *-Token, *-Key, Authorization with any scheme", () => {
    expect(redactText("X-Api-Key: abcdef1234567890")).toBe("X-Api-Key: [redacted]");
    expect(redactText("x-auth-token:abc123 next")).toBe("x-auth-token:[redacted] next");
    expect(redactText("X-Custom-Key: v4lue")).toBe("X-Custom-Key: [redacted]");
    expect(redactText("Authorization: token ghp_short")).toBe("Authorization: token [redacted]");
    expect(redactText("Authorization: Bearer abcdef0123456789")).toBe("Authorization: Bearer [redacted]");
  });

  it("name: value and name=value text for the new names (YAML, env dumps, JSON text)", () => {
    expect(redactText("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG")).toBe("AWS_SECRET_ACCESS_KEY=[redacted]");
    expect(redactText("stripe_api_key: sk_abc\nlog_level: info")).toBe("stripe_api_key: [redacted]\nlog_level: info");
    expect(redactText('{"masterauth":"s3cr3t","port":6379}')).toBe('{"masterauth":"[redacted]","port":6379}');
    expect(redactText("auth: password: hunter2")).toBe("auth: password: [redacted]");
    expect(redactText("charge with sk_live_51HabcdefGHIJ")).toBe("charge with [redacted]");
  });

  it("a URL password holding an unescaped @", () => {
    expect(redactText("redis://default:p@ss@host:6379")).toBe("redis://default:[redacted]@host:6379");
    expect(redactText("postgres://app:s3cr3t@db.internal:5432/main?x=a@b")).toBe("postgres://app:[redacted]@db.internal:5432/main?x=a@b");
  });

  it("does not over-redact", () => {
    for (const s of [
      "keyspace hits 42, monkey business",
      "primary_key: id",
      "tokens: 3, password policy ok",
      "redis://cache:6379/0",
      "hot-key detected on shard 3",
      "key: user:42",
      "CONFIG SET maxmemory-policy noeviction -> allkeys-lru",
      "db0:keys=1,expires=0",
    ]) {
      expect(redactText(s)).toBe(s);
    }
  });
});
