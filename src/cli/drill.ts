import { writeFileSync } from "node:fs";
import { redact, redactText } from "../audit/redact.ts";
import { parseArgs } from "node:util";
import { drillsDirOf, getDrill, loadDrills } from "../drills/registry.ts";
import { drillReportMarkdown, type DrillReport } from "../drills/report.ts";
import { listDrillRuns, requestDrillAbort } from "../drills/store.ts";
import { openStore } from "../store/open.ts";
import { refuseDrillStarter } from "../drills/authority.ts";
import { authenticatedPerson } from "../identity/principal.ts";
import { newId } from "../ids.ts";
import { terminalPrincipal } from "./identity.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";
import { DEFAULT_DETECT_WITHIN_S, type DetectMode } from "../drills/detect.ts";

const USAGE = `usage: belay drill list [--json]
       belay drill run ID [--target NAME|URL] [--detect synthetic|real] [--detect-within SECONDS] [--json] [--report FILE]
       belay drill abort [DRILLRUN] [--as PERSON --reason TEXT]
       belay drill report DRILLRUN [--format md|json]`;

/** `belay drill list | run ID | abort | report`: game-day drills from playbooks/drills/. */
export async function drillCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const config = configFrom(io);
  const drills = await loadDrills(drillsDirOf(config.env.BELAY_PLAYBOOKS_DIR));
  if (sub === "list") {
    const { values } = parseArgs({ args: rest, options: { json: { type: "boolean" } } });
    const list = [...drills.values()].map((d) => ({ id: d.id, title: d.meta.title, mode: d.meta.mode, target: d.meta.target, expects: d.meta.expect.playbook, hypothesis: d.meta.hypothesis }));
    if (values.json) io.out(JSON.stringify({ drills: list }, null, 2));
    else for (const d of list) io.out(`${d.id.padEnd(26)} ${d.mode === "rehearsal" ? "REHEARSAL" : "live     "} ${d.target.kind}:${d.target.name.padEnd(26)} ${d.title}`);
    return 0;
  }
  if (sub === "abort" || sub === "report") {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { as: { type: "string" }, reason: { type: "string" }, format: { type: "string", default: "md" } } });
    const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: `belay drill ${sub}` });
    try {
      if (sub === "abort") {
        const stopped = await requestDrillAbort(db, positionals[0] ?? null, (await terminalPrincipal(io, config, { as: values.as, reason: values.reason })).person);
        if (stopped.length === 0) {
          io.err(positionals[0] ? `drill run ${positionals[0]} is not running` : "no drill is running");
          return 1;
        }
        for (const r of stopped) io.out(`[DRILL] abort requested for ${r.id} (${r.drillId}); its injection is undone on the runner's next tick`);
        return 0;
      }
      const id = positionals[0];
      if (!id) throw new UsageError(USAGE);
      const run = (await listDrillRuns(db, { limit: 200 })).find((r) => r.id === id);
      if (!run?.report) {
        io.err(run ? `drill run ${id} has no report (status ${run.status}${run.statusReason ? `: ${run.statusReason}` : ""})` : `no drill run ${id}`);
        return 1;
      }
      const report = run.report as unknown as DrillReport;
      io.out(values.format === "json" ? JSON.stringify(report, null, 2) : drillReportMarkdown(report));
      return 0;
    } finally {
      await db.close();
    }
  }
  if (sub !== "run") throw new UsageError(USAGE);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { target: { type: "string" }, as: { type: "string" }, reason: { type: "string" }, json: { type: "boolean" }, report: { type: "string" }, detect: { type: "string" }, "detect-within": { type: "string" } },
  });
  const detect = detectModeOf(values.detect, values["detect-within"]);
  // A drill is started by the login that types it, never --as someone else: its starter is the
  // gate run's requester, and a borrowed requester would let the operator approve the injection.
  if (values.as !== undefined || values.reason !== undefined) {
    throw new UsageError("belay drill run: --as is not accepted; a drill is started by your own login (people: in BELAY_CONFIG maps it to you), and others approve its injection");
  }
  const id = positionals[0];
  if (!id) throw new UsageError(USAGE);
  const drill = getDrill(drills, id);
  const self = await terminalPrincipal(io, config);
  // The person who authenticated (never a break-glass stand-in) is the requester.
  const who = authenticatedPerson(self);
  // Loaded here: the server (and Bolt) are for `drill run` only.
  const [{ serve }, { drillConfig, openDrillSession }, { driveInteractively }] = await Promise.all([import("../main.ts"), import("../drills/launch.ts"), import("./run.ts")]);
  const serving = await serve(drillConfig(config), { port: 0, host: "127.0.0.1" });
  const refusal = await refuseDrillStarter({ db: serving.core.db, policy: config.approval, clock: () => new Date(), newId }, drill, self);
  if (refusal) {
    await serving.close();
    io.err(`refused: ${refusal}`);
    return 1;
  }
  const slackOn = serving.integrations.some((i) => i.name.toLowerCase().includes("slack") && i.status.startsWith("on"));
  let driving: Promise<number> | null = null;
  const session = await openDrillSession(serving, drills, {
    progress: (line) => {
      if (!values.json) io.out(line);
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
    const report = await session.run(drill, { ...(values.target ? { target: values.target } : {}), startedBy: who, detect });
    if (driving) await Promise.race([driving, new Promise((r) => setTimeout(r, 1_000))]);
    const md = drillReportMarkdown(report);
    if (values.report) writeFileSync(values.report, values.report.endsWith(".json") ? JSON.stringify(redact(report), null, 2) : redactText(md));
    io.out(values.json ? JSON.stringify(report, null, 2) : `\n${md}`);
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
