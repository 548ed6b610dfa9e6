/**
 * `npm run bench:match`: matching throughput (alerts/s on one core) and p99 time per alert,
 * for the whole playbook library over the fixture corpus, plus the corpus' top-1
 * failure-mode accuracy. Prints one JSON object.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { catalog } from "../src/catalog/index.ts";
import { parseAlertFile } from "../src/ingest/parse-file.ts";
import { createMatcher } from "../src/match/index.ts";
import { loadPlaybooks } from "../src/plan/registry.ts";
import type { Alert } from "../src/sdk/alert.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURES = join(ROOT, "test/fixtures/alerts");
const THROUGHPUT_MS = 2_000;
const LATENCY_MS = 1_000;

const corpus = JSON.parse(readFileSync(join(FIXTURES, "corpus.json"), "utf8")) as { files: { file: string; expect: (string | null)[] }[] };
const alerts: Alert[] = [];
const expected: (string | null)[] = [];
for (const { file, expect } of corpus.files) {
  const parsed = parseAlertFile(JSON.parse(readFileSync(join(FIXTURES, file), "utf8")), file);
  alerts.push(...parsed);
  expected.push(...expect);
}

const playbooks = [...(await loadPlaybooks(join(ROOT, "playbooks"))).values()];
const matcher = createMatcher(playbooks, catalog);

let correct = 0;
alerts.forEach((a, i) => {
  if (matcher.match(a).failureMode === expected[i]) correct++;
});

// Warm up, then count whole passes over the corpus for THROUGHPUT_MS.
for (let i = 0; i < 20_000; i++) matcher.match(alerts[i % alerts.length]!);
let matched = 0;
let sink = 0;
const start = process.hrtime.bigint();
const deadline = start + BigInt(THROUGHPUT_MS) * 1_000_000n;
while (process.hrtime.bigint() < deadline) {
  for (const a of alerts) sink += matcher.match(a).candidates.length;
  matched += alerts.length;
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;

// Time each call for LATENCY_MS to find the tail.
const samples: number[] = [];
const latencyDeadline = process.hrtime.bigint() + BigInt(LATENCY_MS) * 1_000_000n;
for (let i = 0; process.hrtime.bigint() < latencyDeadline; i++) {
  const a = alerts[i % alerts.length]!;
  const t0 = process.hrtime.bigint();
  sink += matcher.match(a).candidates.length;
  samples.push(Number(process.hrtime.bigint() - t0));
}
samples.sort((x, y) => x - y);
const p99 = samples[Math.min(samples.length - 1, Math.floor(samples.length * 0.99))]!;

console.log(
  JSON.stringify({
    alertsPerSecond: Math.round(matched / seconds),
    p99Micros: Math.round(p99 / 10) / 100,
    corpusSize: alerts.length,
    top1Accuracy: Math.round((correct / alerts.length) * 1000) / 1000,
    playbooks: playbooks.length,
    sink: sink > 0,
  }),
);
