/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
 * text exposition format (version 0.0.4). Collectors run at scrape time for values that
 * live in the database (runs by status).
 */
type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const keys = Object.keys(l).sort();
  return keys.length === 0 ? "" : `{${keys.map((k) => `${k}="${escapeLabel(l[k]!)}"`).join(",")}}`;
};

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  values: Map<string, { labels: Labels; value: number }>;
  buckets?: number[];
  hist?: Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>;
}

export class Metrics {
  private readonly families = new Map<string, Family>();
  private readonly collectors: (() => Promise<void>)[] = [];

  private family(name: string, help: string, type: Family["type"], buckets?: number[]): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { name, help, type, values: new Map(), ...(buckets ? { buckets, hist: new Map() } : {}) };
      this.families.set(name, f);
    }
    return f;
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const f = this.family(name, help, "counter");
    const key = labelText(labels);
    const cur = f.values.get(key);
    if (cur) cur.value += by;
    else f.values.set(key, { labels, value: by });
  }

  set(name: string, help: string, labels: Labels, value: number): void {
    this.family(name, help, "gauge").values.set(labelText(labels), { labels, value });
  }

  /** Clears a gauge family before a collector refills it, so vanished label sets disappear. */
  resetGauge(name: string, help: string): void {
    this.family(name, help, "gauge").values.clear();
  }

  observe(name: string, help: string, labels: Labels, value: number, buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]): void {
    const f = this.family(name, help, "histogram", buckets);
    const key = labelText(labels);
    let h = f.hist!.get(key);
    if (!h) {
      h = { labels, counts: new Array(f.buckets!.length).fill(0), sum: 0, count: 0 };
      f.hist!.set(key, h);
    }
    f.buckets!.forEach((b, i) => {
      if (value <= b) h!.counts[i]!++;
    });
    h.sum += value;
    h.count++;
  }

  collect(fn: () => Promise<void>): void {
    this.collectors.push(fn);
  }

  async render(): Promise<string> {
    await Promise.all(this.collectors.map((c) => c().catch(() => undefined)));
    const out: string[] = [];
    for (const f of [...this.families.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      if (f.type === "histogram") {
        for (const h of f.hist!.values()) {
          f.buckets!.forEach((b, i) => out.push(`${f.name}_bucket${labelText({ ...h.labels, le: String(b) })} ${h.counts[i]}`));
          out.push(`${f.name}_bucket${labelText({ ...h.labels, le: "+Inf" })} ${h.count}`);
          out.push(`${f.name}_sum${labelText(h.labels)} ${h.sum}`, `${f.name}_count${labelText(h.labels)} ${h.count}`);
        }
      } else {
        for (const v of f.values.values()) out.push(`${f.name}${labelText(v.labels)} ${v.value}`);
      }
    }
    return `${out.join("\n")}\n`;
  }
}
