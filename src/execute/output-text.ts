/**
 * A step's output as lines a person reads (Slack, the terminal, PagerDuty notes), instead of
 * raw JSON. Bounded by whole lines: when the budget runs out the rest is counted ("… 7 more
 * lines"), never cut in the middle of a value. Pure.
 */

export interface OutputTextOptions {
  /** Characters for the whole text (default 1200). */
  maxChars?: number;
  /** Items shown per list (default 10). */
  maxItems?: number;
  /** Characters per single value (default 200); a longer string ends with "…" at a word. */
  maxValueChars?: number;
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || ["string", "number", "boolean"].includes(typeof v);

function size(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes;
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

function shorten(s: string, max: number): string {
  const flat = s.replace(/\s+/g, " ");
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${space > max * 0.6 ? cut.slice(0, space) : cut}…`;
}

function scalar(key: string | null, v: unknown, o: Required<OutputTextOptions>): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") {
    if (key && /bytes$/i.test(key) && Number.isFinite(v)) return size(v);
    if (key && /^used\w*ratio$/i.test(key) && v >= 0 && v <= 10) return `${Math.round(v * 1000) / 10}%`;
    return String(v);
  }
  if (typeof v === "string") return shorten(v, o.maxValueChars);
  return String(v);
}

/** A small value on one line: `a=1, b=x`, `[3 items]`, `{5 fields}`. */
function inline(key: string | null, v: unknown, o: Required<OutputTextOptions>): string {
  if (isScalar(v) || v === undefined) return scalar(key, v, o);
  if (Array.isArray(v)) {
    if (v.length === 0) return "none";
    if (v.every(isScalar) && v.length <= o.maxItems) return shorten(v.map((x) => scalar(key, x, o)).join(", "), o.maxValueChars);
    return `[${v.length} items]`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return "—";
  if (entries.every(([, x]) => isScalar(x)) && entries.length <= 6) return shorten(entries.map(([k, x]) => `${k}=${scalar(k, x, o)}`).join(", "), o.maxValueChars);
  return `{${entries.length} fields}`;
}

function lines(key: string | null, v: unknown, depth: number, o: Required<OutputTextOptions>): string[] {
  const pad = "  ".repeat(depth);
  if (Array.isArray(v)) {
    const out: string[] = [];
    const shown = v.slice(0, o.maxItems);
    for (const item of shown) out.push(`${pad}• ${inline(key, item, o)}`);
    if (v.length > shown.length) out.push(`${pad}… and ${v.length - shown.length} more`);
    if (v.length === 0) out.push(`${pad}none`);
    return out;
  }
  if (isPlain(v)) {
    const out: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      if ((Array.isArray(x) && x.length > 0 && !(x.every(isScalar) && x.length <= o.maxItems)) || (isPlain(x) && depth < 2 && inline(k, x, o).startsWith("{"))) {
        out.push(`${pad}${k}${Array.isArray(x) ? ` (${x.length})` : ""}:`);
        out.push(...lines(k, x, depth + 1, o));
      } else out.push(`${pad}${k}: ${inline(k, x, o)}`);
    }
    return out;
  }
  return [`${pad}${scalar(key, v, o)}`];
}

/** The output as readable lines within `maxChars`, cut only between whole lines. */
export function outputText(value: unknown, opts: OutputTextOptions = {}): string {
  const o: Required<OutputTextOptions> = { maxChars: opts.maxChars ?? 1200, maxItems: opts.maxItems ?? 10, maxValueChars: opts.maxValueChars ?? 200 };
  if (value === undefined || value === null) return "(no output)";
  if (typeof value === "string") {
    const all = value.split("\n");
    return fit(all, o.maxChars, (l) => shorten(l, o.maxValueChars));
  }
  return fit(lines(null, value, 0, o), o.maxChars, (l) => l);
}

function fit(all: readonly string[], maxChars: number, each: (l: string) => string): string {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < all.length; i++) {
    let line = each(all[i]!);
    const last = i === all.length - 1;
    // Room is kept for the "… N more lines" that ends a cut text.
    const budget = last ? maxChars : maxChars - 24;
    if (used + line.length > budget) {
      if (out.length > 0) {
        out.push(`… ${all.length - i} more line${all.length - i === 1 ? "" : "s"}`);
        break;
      }
      line = shorten(line, budget);
    }
    out.push(line);
    used += line.length + 1;
  }
  return out.join("\n");
}
