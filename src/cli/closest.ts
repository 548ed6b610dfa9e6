import type { Catalog, FailureMode } from "../catalog/types.ts";

const STOP = new Set(["the", "and", "for", "are", "was", "not", "but", "with", "this", "that", "from", "has", "have", "too", "very", "on", "in", "of", "is", "it", "to", "a", "an", "at", "by", "be", "or", "high", "low"]);

/** Each word's stem (plural endings off), mapped to the word as written. */
const words = (text: string) =>
  new Map(
    text
      .replace(/([a-z])([A-Z])/g, "$1 $2")
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .filter((w) => w.length >= 3 && !STOP.has(w))
      .map((w) => [w.length > 4 ? w.replace(/(ies|s)$/, (m) => (m === "ies" ? "y" : "")) : w, w] as const),
  );

/**
 * When no failure mode has evidence, the catalog's modes sharing the most words with the
 * alert (its id, symptom, category and alert names): somewhere to start reading, never a match.
 */
export function closestByWords(text: string, catalog: Catalog, limit = 3): { mode: FailureMode; shared: string[] }[] {
  const asked = words(text);
  if (asked.size === 0) return [];
  return catalog
    .map((mode) => {
      const theirs = words([mode.id, mode.symptom, mode.category, ...mode.signals.alertnames.map((a) => a.name)].join(" "));
      return { mode, shared: [...asked].filter(([stem]) => theirs.has(stem)).map(([, word]) => word) };
    })
    .filter((m) => m.shared.length > 0)
    .sort((a, b) => b.shared.length - a.shared.length || a.mode.id.localeCompare(b.mode.id))
    .slice(0, limit);
}
