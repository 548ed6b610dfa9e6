/**
 * Postgres text and jsonb refuse NUL characters and lone UTF-16 surrogates, so a step output
 * or error holding one made the runner's commit fail and the run loop forever. Before
 * anything is stored, such characters are replaced, deterministically, by the six-character
 * text of their JSON escape (`\u0000`, `\ud800`): the same input always gives the same
 * stored value, so hashes agree, and `escaped` says that it happened.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** Cheap pre-check on JSON text: JSON.stringify writes NUL and lone surrogates as escapes. */
const MAYBE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;

function escapeText(text: string): string {
  return text.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function storableText(text: string): { value: string; escaped: boolean } {
  UNSTORABLE.lastIndex = 0;
  if (!UNSTORABLE.test(text)) return { value: text, escaped: false };
  return { value: escapeText(text), escaped: true };
}

/** A JSON-like value with every string (and key) made storable; `escaped` when anything changed. */
export function storable<T>(value: T): { value: T; escaped: boolean } {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json !== undefined && !MAYBE.test(json)) return { value, escaped: false };
  let escaped = false;
  const text = (s: string) => {
    const r = storableText(s);
    if (r.escaped) escaped = true;
    return r.value;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === "string") return text(v);
    if (v === null || typeof v !== "object" || v instanceof Date || depth > 64) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[text(k)] = walk(x, depth + 1);
    return out;
  };
  const out = walk(value, 0) as T;
  return { value: out, escaped };
}
