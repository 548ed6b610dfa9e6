import { h, type Html, type Value } from "./html.ts";

export const iso = (d: Date | string | null | undefined): string => (d ? (typeof d === "string" ? d : d.toISOString()) : "");

/** A time people read (UTC, to the second) with the exact instant in the machine-readable attribute. */
export function time(d: Date | string | null | undefined): Html {
  if (!d) return h`<span class="muted">—</span>`;
  const s = iso(d);
  return h`<time datetime="${s}">${s.replace("T", " ").replace(/\.\d+Z$/, "Z")}</time>`;
}

export function age(from: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** A status as a word with a class for its colour (never colour alone). */
export function badge(text: string | null | undefined, kind?: string): Html {
  if (!text) return h`<span class="muted">—</span>`;
  const cls = (kind ?? text).toLowerCase().replace(/[^a-z0-9_-]/g, "");
  return h`<span class="badge b-${cls}">${text.replace(/_/g, " ")}</span>`;
}

/** A table that scrolls sideways on a narrow screen instead of overflowing the page. */
export function table(caption: string, head: readonly string[], rows: readonly Html[], empty: string): Html {
  if (rows.length === 0) return h`<p class="muted">${empty}</p>`;
  return h`<div class="scroll" role="region" aria-label="${caption}" tabindex="0"><table><caption>${caption}</caption><thead><tr>${head.map((c) => h`<th scope="col">${c}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function link(href: string, text: Value): Html {
  return h`<a href="${href}">${text}</a>`;
}

export const runHref = (id: string) => `/console/runs/${encodeURIComponent(id)}`;
export const incidentHref = (id: string) => `/console/incidents/${encodeURIComponent(id)}`;

/** A preview or diff: lines starting with + or - are marked as added or removed (and say so to screen readers). */
export function diffBlock(text: string): Html {
  const lines = text.split("\n");
  const isDiff = lines.some((l) => /^[+-](?![+-]{2} )/.test(l)) || lines.some((l) => l.startsWith("@@"));
  if (!isDiff) return h`<pre class="preview">${text}</pre>`;
  return h`<pre class="preview diff">${lines.map((l, i) => {
    const nl = i < lines.length - 1 ? "\n" : "";
    if (l.startsWith("+") && !l.startsWith("+++")) return h`<ins><span class="sr">added: </span>${l}</ins>${nl}`;
    if (l.startsWith("-") && !l.startsWith("---")) return h`<del><span class="sr">removed: </span>${l}</del>${nl}`;
    if (l.startsWith("@@")) return h`<span class="hunk">${l}</span>${nl}`;
    return h`<span>${l}</span>${nl}`;
  })}</pre>`;
}

/** A link out of belay (a Slack permalink): only http(s), so a stored value can never be a javascript: URL. */
export function externalHref(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.toString() : null;
  } catch {
    return null;
  }
}
