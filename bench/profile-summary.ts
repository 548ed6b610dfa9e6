/**
 * Summarises a V8 .cpuprofile by area of belay: self time per node, grouped by the file (or
 * builtin) it ran in. Used by `bench:ingest` (BENCH_PROFILE=1) and on its own:
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile`.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const AREAS: [string, (url: string, fn: string) => boolean][] = [
  ["idle", (u, f) => f === "(idle)"],
  ["garbage collection", (u, f) => f === "(garbage collector)"],
  ["pg driver (pg, pg-protocol, pg-pool)", (u) => /node_modules\/(pg|pg-protocol|pg-pool|pg-types|pgpass)\//.test(u)],
  ["zod validation", (u) => u.includes("node_modules/zod/")],
  ["logging (pino)", (u) => /node_modules\/(pino|sonic-boom|thread-stream)/.test(u)],
  ["normalisation (src/ingest/alertmanager-*)", (u) => /src\/ingest\/alertmanager-/.test(u)],
  ["storability check, handlers, body (src/ingest/handlers, http-body)", (u) => /src\/ingest\/(handlers|http-body|webhook-auth)/.test(u)],
  ["commit path (src/ingest/inbox, src/store)", (u) => /src\/ingest\/inbox|src\/store\//.test(u)],
  ["ids and hashing (src/ids, crypto)", (u) => /src\/ids\.ts|node:internal\/crypto|src\/audit\/(chain|hash)/.test(u)],
  ["redaction (src/audit/redact)", (u) => u.includes("src/audit/redact")],
  ["drain and triage (src/incidents, src/match, src/catalog, src/plan, src/execute)", (u) => /src\/(incidents|match|catalog|plan|execute|approve|audit)\//.test(u)],
  ["belay HTTP server (src/server, hono)", (u) => /src\/server\/|node_modules\/(hono|@hono)/.test(u)],
  ["other belay code (src/)", (u) => u.includes("/src/")],
  ["node http, net, streams", (u) => /node:(_http|http|net|internal\/(http|streams|stream_base|net|timers|process|async_hooks|event_target|events)|events|stream|buffer|timers)/.test(u) || /^node:/.test(u)],
  ["JSON parse/stringify (builtins)", (u, f) => u === "" && /^(parse|stringify|JSON\.)/.test(f)],
  ["other builtins and native", (u) => u === ""],
  ["other node_modules", (u) => u.includes("node_modules")],
];

export function summarise(profile: CpuProfile): { area: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const { url, functionName } = byId.get(id)!.callFrame;
    const area = AREAS.find(([, test]) => test(url, functionName))?.[0] ?? (functionName === "(program)" ? "V8 (program: compile, ICs)" : "other");
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = [...areas].filter(([a]) => a !== "idle").reduce((s, [, us]) => s + us, 0);
  return [...areas]
    .map(([area, us]) => ({ area, ms: Math.round(us / 1000), share: area === "idle" ? 0 : Math.round((us / busy) * 1000) / 10 }))
    .sort((a, b) => b.ms - a.ms);
}

/** The hottest functions by self time (for reading a profile, not for the table). */
export function hottest(profile: CpuProfile, n = 25): { fn: string; ms: number }[] {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const { functionName, url, lineNumber } = byId.get(profile.samples[i]!)!.callFrame;
    const key = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return [...self].map(([fn, us]) => ({ fn, ms: Math.round(us / 1000) })).sort((a, b) => b.ms - a.ms).slice(0, n);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const profile = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as CpuProfile;
  console.table(summarise(profile));
  console.table(hottest(profile, Number(process.argv[3] ?? 30)));
}
