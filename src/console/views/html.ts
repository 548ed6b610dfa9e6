import { redactText } from "../../sinks.ts";

/**
 * Server-rendered HTML with every value escaped, and redacted on the way out: a page is a sink
 * like a Slack message, so a DSN's password or a token in a step's output never reaches it.
 * Only markup built by `h` (or `trusted`, for constant markup) is passed through as is.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type Value = Html | string | number | boolean | null | undefined | readonly Value[];

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/** Text as HTML: redacted, then escaped (safe in element content and in quoted attributes). */
export function escapeHtml(text: string): string {
  return redactText(text).replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join("");
  return escapeHtml(String(v));
}

/** The template tag: `h\`<td>${value}</td>\``. Arrays are joined; null, undefined and false render nothing. */
export function h(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup belay itself made (an SVG chart it rendered). Never for anything a request or a step supplied. */
export function trusted(markup: string): Html {
  return new Html(markup);
}
