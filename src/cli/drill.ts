import { writeFileSync } from "node:fs";
import { redact, redactText } from "../audit/redact.ts";
import { drillsDirOf, getDrill, loadDrills } from "../drills/registry.ts";
import { drillOutcome, drillReportJson, drillReportMarkdown, type DrillReport } from "../drills/report.ts";
import { getDrillRun, listDrillRuns, requestDrillAbort } from "../drills/store.ts";
import { openStore } from "../store/open.ts";
import { refuseDrillStarter } from "../drills/authority.ts";
import { authenticatedPerson } from "../identity/principal.ts";
import { newId } from "../ids.ts";
import { terminalPrincipal } from "./identity.ts";
import type { Config } from "../config.ts";
import { configFrom, parseLimit, splitIo, UsageError, type CliIo } from "./io.ts";
import type { DrillRunOptions } from "./options.ts";
import { drillTargetName } from "./drill-target.ts";
import { resolveId } from "./resolve.ts";
import { tabulate } from "./tabulate.ts";
import { DEFAULT_DETECT_WITHIN_S, type DetectMode } from "../drills/detect.ts";

async function drillsOf(io: CliIo) {
  const config = configFrom(io);
  return { config, drills: await loadDrills(drillsDirOf(config.env.BELAY_PLAYBOOKS_DIR)) };
}

function openDb(config: Config, sub: string) {
  return openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: `belay drill ${sub}` });
}

/** `belay drill list [--json]`: game-day drills from playbooks/drills/. */
export async function drillList(values: { json?: boolean }, io: CliIo): Promise<number> {
  const { drills } = await drillsOf(io);
  const list = [...drills.values()].map((d) => ({ id: d.id, title: d.meta.title, mode: d.meta.mode, target: d.meta.target, expects: d.meta.expect.playbook, hypothesis: d.meta.hypothesis }));
  if (values.json) io.out(JSON.stringify({ drills: list }, null, 2));
  else io.out(tabulate(["DRILL", "MODE", "TARGET", "TITLE"], list.map((d) => [d.id, d.mode === "rehearsal" ? "REHEARSAL" : "live", `${d.target.kind}:${d.target.name}`, d.title])));
  return 0;
}

/** `belay drill abort [DRILLRUN]`: every running drill, or one. */
export async function drillAbort(ref: string | undefined, values: { as?: string; reason?: string }, io: CliIo): Promise<number> {
  const config = configFrom(io);
  const who = (await terminalPrincipal(io, config, { as: values.as, reason: values.reason })).person;
  const db = await openDb(config, "abort");
  try {
    const id = ref ? ((await resolveId(db, "drill run", ref)) ?? ref) : null;
    const stopped = await requestDrillAbort(db, id, who);
    if (stopped.length === 0) {
      io.err(id ? `drill run ${id} is not running` : "no drill is running");
      return 1;
    }
    for (const r of stopped) io.out(`[DRILL] abort requested for ${r.id} (${r.drillId}); its injection is undone on the runner's next tick`);
    return 0;
  } finally {
    await db.close();
  }
}

/** `belay drill report DRILLRUN [--format md|json] [--json]`. */
export async function drillReport(ref: string, values: { format: string; json?: boolean }, io: CliIo): Promise<number> {
  const format = values.json ? "json" : values.format;
  if (format !== "md" && format !== "json") throw new UsageError(`--format ${format}: use md or json`);
  const config = configFrom(io);
  const db = await openDb(config, "report");
  try {
    const id = (await resolveId(db, "drill run", ref)) ?? ref;
    const run = await getDrillRun(db, id);
    if (!run?.report) {
      io.err(run ? `drill run ${id} has no report (status ${run.status}${run.statusReason ? `: ${run.statusReason}` : ""})` : `no drill run ${id}; \`belay drill runs\` lists them`);
      return 1;
    }
    const report = run.report as unknown as DrillReport;
    io.out(format === "json" ? JSON.stringify(drillReportJson(report), null, 2) : drillReportMarkdown(report));
    return 0;
  } finally {
    await db.close();
  }
}

/** `belay drill runs [--drill ID] [--limit N] [--json]`: ids for `belay drill report`. */
export async function drillRuns(values: { drill?: string; limit: string; json?: boolean }, io: CliIo): Promise<number> {
  const limit = parseLimit(values.limit);
  const config = configFrom(io);
  const db = await openDb(config, "runs");
  try {
    const runs = await listDrillRuns(db, { limit, ...(values.drill ? { drillId: values.drill } : {}) });
    if (values.json) {
      io.out(JSON.stringify({ drillRuns: runs.map(({ undo: _undo, report, ...r }) => ({ ...r, hasReport: report !== null, outcome: report ? drillOutcome(report as unknown as DrillReport) : null })) }, null, 2));
      return 0;
    }
    if (runs.length === 0) {
      io.out(`no drill runs yet${values.drill ? ` of ${values.drill}` : ""}; \`belay drill list\` shows the drills`);
      return 0;
    }
    const rows = runs.map((r) => [r.id, r.startedAt.toISOString(), r.report ? drillOutcome(r.report as unknown as DrillReport) : r.status, r.drillId, r.startedBy, r.statusReason ?? ""]);
    io.out(tabulate(["DRILL RUN", "STARTED", "OUTCOME", "DRILL", "BY", "REASON"], rows));
    return 0;
  } finally {
    await db.close();
  }
}

/**
 * `belay drill run ID`: with `--json`, stdout carries only the report's JSON; progress,
 * prompts and the hypothesis line go to stderr.
 */
export async function drillRun(id: string, values: DrillRunOptions, rawIo: CliIo): Promise<number> {
  const detect = detectModeOf(values.detect, values.detectWithin);
  // A drill is started by the login that types it, never --as someone else: its starter is the
  // gate run's requester, and a borrowed requester would let the operator approve the injection.
  if (values.as !== undefined || values.reason !== undefined) {
    throw new UsageError("belay drill run: --as is not accepted; a drill is started by your own login (people: in BELAY_CONFIG maps it to you), and others approve its injection");
  }
  const { human: io, json } = splitIo(rawIo, Boolean(values.json));
  const { config, drills } = await drillsOf(io);
  const drill = getDrill(drills, id);
  const target = values.target === undefined ? undefined : drillTargetName(drill.meta.target.kind, values.target, config.file.targets as never);
  const self = await terminalPrincipal(io, config);
  // The person who authenticated (never a break-glass stand-in) is the requester.
  const who = authenticatedPerson(self);
  // Loaded here: the server (and Bolt) are for `drill run` only.
  const [{ serve }, { drillConfig, openDrillSession }, { driveInteractively }] = await Promise.all([import("../main.ts"), import("../drills/launch.ts"), import("./run.ts")]);
  // Its logs go through the terminal's writer: never onto the line of an approval question.
  const serving = await serve(drillConfig(config), { port: 0, host: "127.0.0.1", logDestination: rawIo.logWriter() });
  const refusal = await refuseDrillStarter({ db: serving.core.db, policy: config.approval, clock: () => new Date(), newId }, drill, self);
  if (refusal) {
    await serving.close();
    io.err(`refused: ${refusal}`);
    return 1;
  }
  const slackOn = serving.integrations.some((i) => i.name.toLowerCase().includes("slack") && i.status.startsWith("on"));
  let driving: Promise<number> | null = null;
  const started = Date.now();
  const session = await openDrillSession(serving, drills, {
    progress: (line) => {
      // On a terminal each line carries the time since the start: a drill takes minutes.
      io.out(io.isTty ? `[${Math.round((Date.now() - started) / 1000)}s] ${line}` : line);
      // Without Slack the terminal is the approval surface, as in `belay run`.
      const m = /run\.proposed: \S+ \(run (\S+)\)/.exec(line);
      if (m && !slackOn && !driving) driving = driveInteractively(serving.core.engine, m[1]!, self, io, config);
    },
  });
  const stop = () => void requestDrillAbort(serving.core.db, null, who);
  process.once("SIGINT", stop);
  try {
    for (const r of session.recovered) io.out(`[DRILL] undid ${r.undone.join(", ") || "nothing"} left by drill run ${r.drillRunId} (${r.drillId}), whose process had stopped${r.failed.length ? `; FAILED: ${r.failed.map((f) => `${f.name}: ${f.error}`).join("; ")}` : ""}`);
    io.out(`[DRILL] ${drill.id}: ${drill.meta.hypothesis}${slackOn ? "" : "\n[DRILL] Slack is not configured: approve here when asked."}`);
    // The injection's approval (a live drill) is decided by others: `belay approve RUN inject` from their logins, or in Slack.
    const report = await session.run(drill, { ...(target ? { target } : {}), startedBy: who, detect });
    if (driving) await Promise.race([driving, new Promise((r) => setTimeout(r, 1_000))]);
    const md = drillReportMarkdown(report);
    if (values.report) writeFileSync(values.report, values.report.endsWith(".json") ? JSON.stringify(redact(drillReportJson(report)), null, 2) : redactText(md));
    if (values.json) json(drillReportJson(report));
    else io.out(`\n${md}`);
    return report.status === "passed" ? 0 : 1;
  } finally {
    process.removeListener("SIGINT", stop);
    await session.close();
    await serving.close();
  }
}

/** `--detect real [--detect-within N]`: wait for the team's own monitoring instead of sending a synthetic alert. */
export function detectModeOf(mode: string | undefined, within: string | undefined): DetectMode {
  if (mode === undefined || mode === "synthetic") {
    if (within !== undefined) throw new UsageError("belay drill run: --detect-within goes with --detect real (a synthetic alert is sent at once)");
    return { mode: "synthetic" };
  }
  if (mode !== "real") throw new UsageError(`belay drill run: --detect is "synthetic" (default) or "real", not "${mode}"`);
  const withinS = within === undefined ? DEFAULT_DETECT_WITHIN_S : Number(within);
  if (!Number.isFinite(withinS) || withinS <= 0 || withinS > 3600) throw new UsageError(`belay drill run: --detect-within takes seconds between 1 and 3600, not "${within}"`);
  return { mode: "real", withinS };
}
