import type { z } from "zod";

/** A key the schema does not know, where it is, and the nearest one it does. */
export interface UnknownKey {
  path: string;
  key: string;
  suggestion: string | null;
}

type Def = { type: string; [k: string]: any };
const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function nearest(key: string, known: readonly string[]): string | null {
  const k = key.toLowerCase();
  let best: { name: string; d: number } | null = null;
  for (const name of known) {
    const n = name.toLowerCase();
    const d = k.startsWith(n) || n.startsWith(k) ? Math.abs(k.length - n.length) * 0.5 : distance(k, n);
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.name : null;
}

const join = (path: readonly (string | number)[]) => path.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".").replace(/\.\[/g, "[");

/**
 * Every key in `value` that `schema` would silently drop, anywhere in the tree. Generic over
 * zod's object, record, array, union, optional/default and pipe schemas, so a key added to a
 * schema is known here with no further change, and a typo (`approvals:`) is never a silent
 * default.
 */
export function unknownKeys(schema: z.ZodType, value: unknown, path: (string | number)[] = []): UnknownKey[] {
  const def = defOf(schema);
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
    case "nonoptional":
      return unknownKeys(def.innerType, value, path);
    case "pipe":
      return unknownKeys(def.in, value, path);
    case "lazy":
      return unknownKeys(def.getter(), value, path);
    case "object": {
      if (!isPlainObject(value)) return [];
      const shape = def.shape as Record<string, z.ZodType>;
      const catchall = def.catchall && defOf(def.catchall).type !== "never" ? (def.catchall as z.ZodType) : null;
      const out: UnknownKey[] = [];
      for (const [k, v] of Object.entries(value)) {
        if (Object.hasOwn(shape, k)) out.push(...unknownKeys(shape[k]!, v, [...path, k]));
        else if (catchall) out.push(...unknownKeys(catchall, v, [...path, k]));
        else out.push({ path: join([...path, k]), key: k, suggestion: nearest(k, Object.keys(shape)) });
      }
      return out;
    }
    case "record":
      return isPlainObject(value) ? Object.entries(value).flatMap(([k, v]) => unknownKeys(def.valueType, v, [...path, k])) : [];
    case "array":
      return Array.isArray(value) ? value.flatMap((v, i) => unknownKeys(def.element, v, [...path, i])) : [];
    case "union": {
      // The option that fits best decides: a value valid for one option has no unknown keys.
      let best: UnknownKey[] | null = null;
      for (const option of def.options as z.ZodType[]) {
        const found = unknownKeys(option, value, path);
        if (best === null || found.length < best.length) best = found;
      }
      return best ?? [];
    }
    default:
      return [];
  }
}
