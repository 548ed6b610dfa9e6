import { PNG } from "pngjs";
import { expect, it } from "vitest";
import { renderLineChartPng } from "../../src/charts/line.ts";

/** Pixels close to an RGB colour in a decoded PNG. */
function count(png: PNG, [r, g, b]: [number, number, number], tolerance = 40): number {
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    if (Math.abs(png.data[i]! - r) + Math.abs(png.data[i + 1]! - g) + Math.abs(png.data[i + 2]! - b) <= tolerance) n++;
  }
  return n;
}

const t0 = Date.parse("2026-12-02T12:00:00Z");
const points = Array.from({ length: 120 }, (_, i) => [t0 + i * 5_000, i < 60 ? 40 : 97] as const);

it("renders the series as a PNG a decoder reads: the right size, white ground, the line in its colour", () => {
  const buf = renderLineChartPng({
    title: "RedisOutOfConfiguredMaxmemory",
    subtitle: "redis_memory_used_bytes / redis_memory_max_bytes * 100",
    series: [{ name: "127.0.0.1:9121", points }],
    window: { from: t0 + 300_000, to: t0 + 600_000, label: "incident" },
  });
  expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const png = PNG.sync.read(buf);
  expect([png.width, png.height]).toEqual([900, 360]);
  const total = png.width * png.height;
  expect(count(png, [255, 255, 255], 6)).toBeGreaterThan(total * 0.5);
  // The line (#d62728) is drawn across the plot: at least a few hundred pixels of it.
  expect(count(png, [214, 39, 40])).toBeGreaterThan(300);
});

it("a second series gets the second colour; no data at all still renders", () => {
  const two = PNG.sync.read(
    renderLineChartPng({ title: "two", series: [{ name: "a", points }, { name: "b", points: points.map(([t, v]) => [t, v / 2] as const) }] }),
  );
  expect(count(two, [31, 119, 180])).toBeGreaterThan(300);
  // One sample is drawn as a dot.
  const one = PNG.sync.read(renderLineChartPng({ title: "one", series: [{ name: "a", points: [[t0, 5]] }] }));
  expect(count(one, [214, 39, 40])).toBeGreaterThan(15);
  const empty = PNG.sync.read(renderLineChartPng({ title: "nothing", series: [] }));
  expect([empty.width, empty.height]).toEqual([900, 360]);
});

it("plots the alert's expression without its trailing comparison, which becomes the threshold", async () => {
  const { plotOf } = await import("../../src/incidents/chart.ts");
  expect(plotOf("redis_memory_used_bytes / redis_memory_max_bytes * 100 > 90")).toEqual({ plot: "redis_memory_used_bytes / redis_memory_max_bytes * 100", threshold: { value: 90, label: "> 90" } });
  expect(plotOf("increase(redis_rejected_connections_total[1m]) > 0")).toEqual({ plot: "increase(redis_rejected_connections_total[1m])", threshold: { value: 0, label: "> 0" } });
  expect(plotOf("redis_up == 0")).toEqual({ plot: "redis_up", threshold: { value: 0, label: "== 0" } });
  // A comparison between two series is plotted as it is.
  const both = "sum by (instance) (pg_stat_activity_count) > min by (instance) (pg_settings_max_connections * 0.8)";
  expect(plotOf(both)).toEqual({ plot: both, threshold: null });
});
