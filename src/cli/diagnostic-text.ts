import { outputText } from "../execute/output-text.ts";
import { tabulate } from "./tabulate.ts";

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || v === undefined || ["string", "number", "boolean"].includes(typeof v);
const MAX_ROWS = 15;
const MAX_COLUMNS = 7;

/** A list of flat records (pods, keys, sessions): the shape a table shows best. */
function isRows(v: unknown): v is Record<string, unknown>[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every(isPlain)) return false;
  const keys = new Set(v.flatMap((r) => Object.keys(r)));
  return keys.size <= MAX_COLUMNS && v.every((r) => Object.values(r).every(isScalar));
}

function table(rows: Record<string, unknown>[], indent: string): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const shown = rows.slice(0, MAX_ROWS);
  const text = tabulate(
    keys.map((k) => k.toUpperCase()),
    shown.map((r) => keys.map((k) => (r[k] === null || r[k] === undefined ? "—" : String(r[k])))),
    { max: 48, indent },
  );
  return rows.length > shown.length ? `${text}\n${indent}… and ${rows.length - shown.length} more` : text;
}

/**
 * A diagnostic's output for the terminal: lists of flat records as tables, everything else as
 * outputText's readable lines (bounded by whole lines, never JSON cut mid-string).
 */
export function diagnosticText(output: unknown, maxChars = 600): string {
  if (isRows(output)) return table(output, "");
  if (isPlain(output)) {
    const lists = Object.entries(output).filter(([, v]) => isRows(v)) as [string, Record<string, unknown>[]][];
    if (lists.length === 0) return outputText(output, { maxChars });
    const rest = Object.fromEntries(Object.entries(output).filter(([k]) => !lists.some(([l]) => l === k)));
    const parts = Object.keys(rest).length ? [outputText(rest, { maxChars })] : [];
    for (const [k, rows] of lists) parts.push(`${k} (${rows.length}):\n${table(rows, "  ")}`);
    return parts.join("\n");
  }
  return outputText(output, { maxChars });
}
