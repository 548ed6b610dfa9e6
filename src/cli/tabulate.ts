/** Columns padded to their widest cell; a cell longer than `max` is cut with an ellipsis (never mid-JSON: cells are plain text). */
export function tabulate(header: readonly string[], rows: readonly (readonly string[])[], opts: { max?: number; indent?: string } = {}): string {
  const max = opts.max ?? 60;
  const clip = (s: string) => {
    const one = s.replace(/\s*\n\s*/g, " ");
    return one.length > max ? `${one.slice(0, max - 1)}…` : one;
  };
  const cells = [header, ...rows].map((r) => r.map(clip));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) => `${opts.indent ?? ""}${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")}`.trimEnd();
  return [line(cells[0]!), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n");
}

/** ANSI colour when on; plain text otherwise (NO_COLOR, not a terminal). */
export function paint(on: boolean) {
  const wrap = (code: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { red: wrap(31), green: wrap(32), yellow: wrap(33), bold: wrap(1), dim: wrap(2) };
}
