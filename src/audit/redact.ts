/**
 * Redaction runs before anything is written or posted: audit events, run params and
 * outputs in the store, logs and Slack messages.
 */
export const REDACTED = "[redacted]";

/** Names that end in one of these are secrets (`DB_PASSWORD`, `clientSecret`, `x-auth-token`, `masterauth`). */
const SECRET_SUFFIX =
  /(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|secret[_-]?key|authorization|credentials?|cookie|session[_-]?id|dsn|masterauth|requirepass)$/i;

/** What, before a final `key`, makes the name a secret: `AWS_SECRET_ACCESS_KEY`, `ENCRYPTION_KEY`, `signingKey`. */
const KEY_QUALIFIERS = new Set([
  "secret", "private", "api", "access", "encryption", "encrypt", "signing", "sign", "master", "hmac", "client", "app",
  "license", "licence", "auth", "session", "jwt", "crypto", "cipher", "aes", "ssh", "gpg", "pgp", "deploy", "webhook",
  "integration", "routing", "service", "account", "admin", "subscription", "consumer", "shared", "stripe",
]);

/** ...and what makes it plainly not one, even in environment-variable or header style (`PRIMARY_KEY`, `Idempotency-Key` stays a secret). */
const PLAIN_KEY_QUALIFIERS = new Set([
  "primary", "foreign", "sort", "partition", "cache", "lock", "group", "dedup", "dedupe", "label", "public", "object",
  "hash", "shard", "unique", "composite", "hot", "row", "map", "index", "lookup", "redis", "sharding", "cluster",
]);

/** A name's words, lower case: `AWS_SECRET_ACCESS_KEY` -> aws secret access key, `openaiApiKey` -> openai api key. */
const wordsOf = (name: string): string[] =>
  name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

/**
 * Answers of isSecretKey by name: the same few names (label names, field names) come again
 * and again, and working one out takes several regular expressions. Bounded: emptied when full.
 */
const secretKeyAnswers = new Map<string, boolean>();
const SECRET_KEY_ANSWERS_MAX = 4_096;

/** A key whose value is a secret whatever it holds (`password`, `token`, `dsn`, `SECRET_KEY`, `X-Api-Key`, ...). */
export function isSecretKey(key: string): boolean {
  let answer = secretKeyAnswers.get(key);
  if (answer === undefined) {
    answer = workOutSecretKey(key);
    if (secretKeyAnswers.size >= SECRET_KEY_ANSWERS_MAX) secretKeyAnswers.clear();
    if (key.length <= 256) secretKeyAnswers.set(key, answer);
  }
  return answer;
}

function workOutSecretKey(key: string): boolean {
  if (SECRET_SUFFIX.test(key)) return true;
  const words = wordsOf(key);
  const last = words.at(-1);
  const before = words.at(-2);
  if (last === undefined) return false;
  if (last === "pwd") return before !== undefined; // DB_PWD; a bare PWD is the working directory
  if (last === "key" || last === "keys") {
    if (before === undefined) return false; // a bare `key` is a Redis key's name, a map's key
    if (KEY_QUALIFIERS.has(before)) return true;
    if (PLAIN_KEY_QUALIFIERS.has(before)) return false;
    // A vendor's key in environment-variable style (STRIPE_KEY) or a header's (X-Custom-Key: one key;
    // a dashed plural is a step's or playbook's name, `big-keys`, `delete-keys`, never a credential).
    return /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(key) || (last === "key" && /^[A-Za-z0-9]+(-[A-Za-z0-9]+)+$/.test(key));
  }
  const glued = /^([a-z]+?)keys?$/.exec(last); // apikey, secretkey, masterkey; never monkey or keyspace
  return glued !== null && KEY_QUALIFIERS.has(glued[1]!);
}

/** Auth schemes kept readable in front of the credential they introduce (`Authorization: Bearer [redacted]`). */
const SCHEME = /^(bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256)\s+/i;

/**
 * `name=value` and `name: value` where the name is a secret's (isSecretKey): libpq keyword
 * form, query strings, command arguments, headers (`X-Api-Key: ...`), YAML and JSON text.
 * Names are at most 64 characters, so a long dotted string costs linear time.
 */
const NAME_SEP = /(["']?)\b([A-Za-z_][A-Za-z0-9_.-]{0,63})\1([ \t]*)([=:])([ \t]*)/g;
const VALUE_EQ = /'[^']*'|"[^"]*"|[^\s&]+/y;
const VALUE_COLON = /'[^']*'|"[^"]*"|(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256)[ \t]+)?[^\s&,;'"}\])]+/iy;

/** Replaces the values of secret names; a name that is not a secret's leaves its value to be looked at again (`auth: password: x`). */
function redactAssignments(text: string): string {
  let out = "";
  let from = 0;
  NAME_SEP.lastIndex = 0;
  for (let m = NAME_SEP.exec(text); m; m = NAME_SEP.exec(text)) {
    const [whole, q, name, s1, sep, s2] = m as unknown as [string, string, string, string, string, string];
    if (!isSecretKey(name)) continue;
    const valueRe = sep === "=" ? VALUE_EQ : VALUE_COLON;
    valueRe.lastIndex = m.index + whole.length;
    const value = valueRe.exec(text)?.[0];
    if (!value) continue;
    // A flag is no secret (`"secret": false` in a playbook's params, `token: null`): left as it is, JSON stays JSON.
    if (/^(true|false|null)$/.test(value)) continue;
    if (sep === "=") out += text.slice(from, m.index) + `${q}${name}${q}=${REDACTED}`;
    else {
      const scheme = SCHEME.exec(value)?.[0] ?? "";
      // A bare value after a JSON key ("pin": 1234) is replaced by a JSON string, so the text still parses.
      const quote = /^['"]/.test(value) ? value[0]! : q === '"' ? '"' : "";
      out += text.slice(from, m.index) + `${q}${name}${q}${s1}:${s2}${scheme}${quote}${REDACTED}${quote}`;
    }
    from = valueRe.lastIndex;
    NAME_SEP.lastIndex = from;
  }
  return out + text.slice(from);
}

const sub =
  (re: RegExp, rep: string | ((m: string, ...g: string[]) => string)) =>
  (text: string): string =>
    text.replace(re, rep as never);

/** Some word every name isSecretKey accepts holds (its suffixes, and `pwd`, `key`): no such word, no secret name. */
const SECRET_WORD = /pass|pwd|secret|token|key|authorization|credential|cookie|session|dsn|masterauth/i;

/**
 * Each pass in turn over the text, each behind a cheap test of something its pattern cannot
 * match without (most strings hold none of them, and ten regular expressions over every string
 * of every audit event was most of the audit trail's CPU).
 */
const PASSES: [(text: string) => boolean, (text: string) => string][] = [
  // user:password@ in any URL or connection string; the password may hold an unescaped @, so up to the last one before the host
  [(t) => t.includes("://"), sub(/\b([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*):([^/\s]+)@/gi, (_m, pre: string) => `${pre}:${REDACTED}@`)],
  // SQL: PASSWORD 'x' (CREATE/ALTER ROLE, user mappings), IDENTIFIED BY 'x'; a quote cut off by pg_stat_activity's truncation too
  [(t) => /password|identified/i.test(t), sub(/\b(PASSWORD|IDENTIFIED\s+BY)(\s+)('(?:[^']|'')*(?:'|$)|"[^"]*(?:"|$)|\$\$[\s\S]*?(?:\$\$|$))/gi, (_m, k: string, s: string) => `${k}${s}'${REDACTED}'`)],
  // Only a secret's name has its value replaced, and every such name (isSecretKey) holds one of these words.
  [(t) => (t.includes("=") || t.includes(":")) && SECRET_WORD.test(t), redactAssignments],
  // Slack tokens
  [(t) => t.includes("xox"), sub(/\bxox[abposr]-[A-Za-z0-9-]{8,}/g, REDACTED)],
  [(t) => t.includes("xapp-"), sub(/\bxapp-[A-Za-z0-9-]{8,}/g, REDACTED)],
  // Bearer / Basic credentials
  [(t) => t.includes("Bearer") || t.includes("Basic"), sub(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, (_m, k: string) => `${k} ${REDACTED}`)],
  // AWS access key ids, GitHub tokens, Stripe secret keys, PEM private keys
  [(t) => t.includes("AKIA"), sub(/\bAKIA[0-9A-Z]{16}\b/g, REDACTED)],
  [(t) => t.includes("_") && /gh[pousr]_/.test(t), sub(/\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, REDACTED)],
  [(t) => t.includes("k_live_") || t.includes("k_test_"), sub(/\b[sr]k_(live|test)_[A-Za-z0-9]{8,}\b/g, REDACTED)],
  [(t) => t.includes("-----BEGIN"), sub(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, REDACTED)],
];

export function redactText(text: string): string {
  let out = text;
  for (const [mayMatch, pass] of PASSES) if (mayMatch(out)) out = pass(out);
  return out;
}

/** Fields that name a setting, and the fields beside them holding its value: `{ name: "DB_PASSWORD", value: "..." }` (a container's env), `{ parameter: "requirepass", previous, value }`. */
const NAME_FIELDS = ["name", "key", "parameter", "param", "variable"] as const;
const VALUE_FIELDS = new Set(["value", "values", "previous", "old", "new", "current"]);

const present = (v: unknown) => v !== null && v !== undefined && v !== "";

/**
 * A deep copy with secrets replaced: values under secret-looking keys, keys listed in
 * `secretKeys` (params marked secret), the value beside a secret-looking name, and
 * secret-looking substrings of every string.
 */
export function redact<T>(value: T, secretKeys: ReadonlySet<string> = new Set()): T {
  const walk = (v: unknown, key: string | null, depth: number): unknown => {
    if (depth > 32) return "[too deep]";
    if (key !== null && (secretKeys.has(key) || isSecretKey(key)) && present(v)) return REDACTED;
    if (typeof v === "string") return redactText(v);
    if (v === null || typeof v !== "object") return v;
    if (v instanceof Date) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, null, depth + 1));
    const obj = v as Record<string, unknown>;
    const named = NAME_FIELDS.some((f) => typeof obj[f] === "string" && (isSecretKey(obj[f] as string) || secretKeys.has(obj[f] as string)));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(obj)) out[k] = named && VALUE_FIELDS.has(k) && present(x) ? REDACTED : walk(x, k, depth + 1);
    return out;
  };
  return walk(value, null, 0) as T;
}
