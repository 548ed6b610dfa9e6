import { Resvg } from "@resvg/resvg-js";
import * as echarts from "echarts";

/**
 * A line chart as a PNG, rendered server-side: ECharts draws SVG without a DOM (its SSR
 * mode), resvg rasterises it. No browser, no native canvas.
 */
export interface LineSeries {
  readonly name: string;
  /** [epoch ms, value]; non-finite values are drawn as gaps. */
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChart {
  readonly title: string;
  readonly subtitle?: string;
  readonly series: readonly LineSeries[];
  /** A shaded window, e.g. the incident (epoch ms). */
  readonly window?: { readonly from: number; readonly to: number; readonly label: string };
  /** A dashed horizontal line: the alert's threshold. */
  readonly threshold?: { readonly value: number; readonly label: string };
  readonly width?: number;
  readonly height?: number;
}

export const CHART_COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"] as const;

export function renderLineChartSvg(c: LineChart): string {
  const width = c.width ?? 900;
  const height = c.height ?? 360;
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: "#ffffff",
      color: [...CHART_COLORS],
      title: { text: c.title, subtext: c.subtitle ?? "", left: 12, top: 8, textStyle: { fontSize: 14 }, subtextStyle: { fontSize: 11 } },
      legend: c.series.length > 1 ? { bottom: 4, type: "plain" } : undefined,
      grid: { left: 64, right: 48, top: c.subtitle ? 64 : 48, bottom: c.series.length > 1 ? 48 : 32 },
      xAxis: { type: "time" },
      yAxis: { type: "value", scale: true },
      series: c.series.map((s, i) => ({
        name: s.name,
        type: "line",
        // A short series shows its samples: a single sample is a dot, not nothing.
        showSymbol: s.points.length < 30,
        symbolSize: 6,
        connectNulls: false,
        lineStyle: { width: 2 },
        data: s.points.map(([t, v]) => [t, Number.isFinite(v) ? v : null]),
        ...(i === 0 && c.window
          ? { markArea: { silent: true, itemStyle: { color: "rgba(214, 39, 40, 0.08)" }, label: { show: true, position: "insideTop", fontSize: 10 }, data: [[{ name: c.window.label, xAxis: c.window.from }, { xAxis: c.window.to }]] } }
          : {}),
        ...(i === 0 && c.threshold
          ? { markLine: { silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#555555" }, label: { formatter: c.threshold.label, fontSize: 10 }, data: [{ yAxis: c.threshold.value }] } }
          : {}),
      })),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

export function renderLineChartPng(c: LineChart): Buffer {
  const svg = renderLineChartSvg(c);
  return Buffer.from(new Resvg(svg, { fitTo: { mode: "original" }, background: "#ffffff", font: { loadSystemFonts: true } }).render().asPng());
}
