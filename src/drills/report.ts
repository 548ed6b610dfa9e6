import type { ProbeStats } from "../sdk/drill.ts";

export interface Criterion {
  name: string;
  /** What was expected, in words: `<= 60 s`, `redis-maxmemory-policy`. */
  expected: string;
  /** The measured value (seconds, a ratio, a playbook id), or null when it never happened. */
  measured: number | string | null;
  unit: "s" | "ms" | "ratio" | "";
  ok: boolean;
  detail: string;
}

export interface Scores {
  /** Seconds from the injection to belay opening the incident. */
  detectS: number | null;
  /** Seconds from the injection to the first human action (approval, acknowledgement, abort). */
  acknowledgeS: number | null;
  /** Seconds from the injection to the approval that let the fix run. */
  approveS: number | null;
  /** Seconds from the injection to the recovery check holding. */
  recoverS: number | null;
}

/** How the drill's detection was measured: its own synthetic alert, or the team's real monitoring. */
export type Detection =
  | { mode: "synthetic" }
  | { mode: "real"; withinS: number; alertname: string; fired: boolean; startsAt: string | null; receivedAt: string | null; fingerprint: string | null };

export interface TimelineItem {
  at: string;
  /** Seconds since the drill started. */
  t: number;
  event: string;
  detail: string;
}

export interface TrendPoint {
  drillRunId: string;
  startedAt: string;
  status: string;
  scores: Scores | null;
}

export interface DrillReport {
  drill: { id: string; title: string; hypothesis: string; mode: "live" | "rehearsal"; target: string; blastRadius: string; rehearsalNote: string | null };
  drillRunId: string;
  status: "passed" | "failed" | "aborted";
  reason: string | null;
  startedBy: string;
  startedAt: string;
  finishedAt: string;
  incidentId: string | null;
  runId: string | null;
  proposedPlaybook: string | null;
  /** True when every criterion held; null when the drill was aborted before it could tell. */
  hypothesisHeld: boolean | null;
  /** Absent in reports stored before real detection existed (they were synthetic). */
  detection?: Detection;
  criteria: Criterion[];
  scores: Scores;
  probe: ProbeStats | null;
  /** Effects of a rehearsal that were simulated, not real. */
  simulated: string[];
  undo: { name: string; undone: boolean; error: string | null }[];
  timeline: TimelineItem[];
  trend: TrendPoint[];
}

/**
 * A drill that never injected anything (refused, aborted or failed before its first
 * injection was captured) tested nothing: it is "not run", not a failed hypothesis, and it
 * stays out of the trend. Told from the report alone (no undo entry, no injection applied),
 * so reports stored before this existed are read the same way.
 */
export function drillNotRun(r: Pick<DrillReport, "undo" | "timeline">): boolean {
  return (r.undo?.length ?? 0) === 0 && !(r.timeline ?? []).some((t) => t.event.startsWith("injection.applied"));
}

/** What a drill run came to, in one word: passed, failed, aborted, or "not run". */
export function drillOutcome(r: DrillReport): "passed" | "failed" | "aborted" | "not run" {
  return drillNotRun(r) ? "not run" : r.status;
}

/**
 * The report as machines read it (`--json`, a .json report file): with its one-word outcome,
 * and a drill that never injected judges no hypothesis (null, not false).
 */
export function drillReportJson(r: DrillReport): DrillReport & { outcome: ReturnType<typeof drillOutcome> } {
  return { ...r, outcome: drillOutcome(r), hypothesisHeld: drillNotRun(r) ? null : r.hypothesisHeld };
}

const fmt = (v: number | null, unit = "s") => (v === null ? "—" : `${Math.round(v * 10) / 10} ${unit}`);
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function trendLine(name: keyof Scores, now: Scores, earlier: TrendPoint[]): string {
  const prev = earlier.map((p) => p.scores?.[name]).filter((v): v is number => typeof v === "number");
  if (prev.length === 0) return `${fmt(now[name])} (first measurement)`;
  const last = prev[0]!;
  const best = Math.min(...prev);
  const delta = now[name] === null ? null : now[name]! - last;
  const sign = delta === null ? "" : delta > 0 ? "+" : "";
  return `${fmt(now[name])} (previous ${fmt(last)}${delta === null ? "" : `, ${sign}${fmt(delta)}`}; best of ${prev.length} earlier ${fmt(best)})`;
}

function detectionLine(d: Detection | undefined): string {
  if (!d || d.mode === "synthetic") return "synthetic DRILL alert (time to detect is belay's, not your monitoring's)";
  if (!d.fired) return `real monitoring: **no ${d.alertname} fired within ${d.withinS} s** — monitoring did not detect the fault`;
  return `real monitoring: ${d.alertname} fired${d.startsAt ? ` at ${d.startsAt} (Alertmanager startsAt)` : ""}, received by belay at ${d.receivedAt}`;
}

/** The drill report as Markdown: DRILL in its title, the verdict first, then the evidence. */
export function drillReportMarkdown(r: DrillReport): string {
  const notRun = drillNotRun(r);
  const verdict = notRun ? "not tested (nothing was injected)" : r.hypothesisHeld === null ? "not tested (aborted)" : r.hypothesisHeld ? "HELD" : "DID NOT HOLD";
  const lines = [
    `# DRILL REPORT: ${r.drill.title}`,
    "",
    `Drill \`${r.drill.id}\`, run \`${r.drillRunId}\` — **${notRun ? "NOT RUN" : r.status.toUpperCase()}**${r.reason ? ` (${r.reason})` : ""}`,
    "",
    `- Mode: ${r.drill.mode === "rehearsal" ? "**REHEARSAL** — effects simulated, clearly labelled below" : "live (real injection)"}${r.drill.rehearsalNote ? ` — ${r.drill.rehearsalNote}` : ""}`,
    `- Target: \`${r.drill.target}\`; blast radius: ${r.drill.blastRadius}`,
    `- Started by ${r.startedBy} at ${r.startedAt}, finished ${r.finishedAt}`,
    `- Detection: ${detectionLine(r.detection)}`,
    `- Incident: ${r.incidentId ? `\`${r.incidentId}\`` : "none opened"}; run: ${r.runId ? `\`${r.runId}\` (${r.proposedPlaybook})` : "none proposed"}`,
    "",
    `## Hypothesis: ${verdict}`,
    "",
    `> ${r.drill.hypothesis}`,
    "",
    "## Criteria",
    "",
    "| criterion | expected | measured | result | detail |",
    "|---|---|---|---|---|",
    ...(notRun ? ["| (not judged) | | | | nothing was injected, so there was nothing to detect or recover from |"] : []),
    ...r.criteria.filter(() => !notRun).map((c) => `| ${c.name} | ${cell(c.expected)} | ${c.measured === null ? "—" : typeof c.measured === "number" ? fmt(c.measured, c.unit) : cell(c.measured)} | ${c.ok ? "pass" : "**FAIL**"} | ${cell(c.detail)} |`),
    "",
    "## Scores (seconds from the injection)",
    "",
    `- Time to detect: ${trendLine("detectS", r.scores, r.trend)}`,
    `- Time to acknowledge: ${trendLine("acknowledgeS", r.scores, r.trend)}`,
    `- Time to approve: ${trendLine("approveS", r.scores, r.trend)}`,
    `- Time to recover: ${trendLine("recoverS", r.scores, r.trend)}`,
  ];
  if (r.probe) lines.push("", `## Probe`, "", `${r.probe.requests} requests, ${r.probe.errors} errors (error rate ${(r.probe.errorRate * 100).toFixed(1)}%), p95 ${fmt(r.probe.p95Ms, "ms")}`);
  if (r.simulated.length) lines.push("", "## Simulated effects (rehearsal: none of this touched a real system)", "", ...r.simulated.map((s) => `- ${s}`));
  lines.push("", "## Undo", "", ...(r.undo.length ? r.undo.map((u) => `- ${u.name}: ${u.undone ? "undone" : `NOT UNDONE${u.error ? `: ${u.error}` : ""}`}`) : ["- nothing was injected"]));
  lines.push("", "## Timeline", "", "| t (s) | time (UTC) | event | detail |", "|---|---|---|---|");
  for (const t of r.timeline) lines.push(`| ${t.t.toFixed(1)} | ${t.at.replace("T", " ").replace("Z", "")} | ${t.event} | ${cell(t.detail)} |`);
  if (r.trend.length) {
    lines.push("", "## Earlier runs of this drill", "", "| run | started | status | detect | ack | approve | recover |", "|---|---|---|---|---|---|---|");
    for (const p of r.trend) {
      const s = p.scores;
      lines.push(`| ${p.drillRunId} | ${p.startedAt} | ${p.status} | ${fmt(s?.detectS ?? null)} | ${fmt(s?.acknowledgeS ?? null)} | ${fmt(s?.approveS ?? null)} | ${fmt(s?.recoverS ?? null)} |`);
    }
  }
  return `${lines.join("\n")}\n`;
}
