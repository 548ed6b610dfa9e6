import { Command, Option } from "commander";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { CliIo } from "./io.ts";
import { EPILOGUE, EXIT, example, type AuditExportOptions, type AuditVerifyOptions, type DecideOptions, type DrillRunOptions, type IncidentsListOptions, type RunOptions } from "./options.ts";

export { EXIT, EPILOGUE, examplesOf } from "./options.ts";

/** What a command's action needs besides its options: the terminal, and (for tests) the playbooks. */
export interface ProgramDeps {
  io: CliIo;
  loadPlaybooks?: () => Promise<AnyPlaybook[]>;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/**
 * The command tree. Each action imports its command's module when it runs (`belay --help`
 * does not load Bolt or the Kubernetes client) and hands it the options commander parsed:
 * options are parsed here, once. `setCode` receives the command's exit code.
 */
export function buildProgram(deps: ProgramDeps, setCode: (code: number) => void): Command {
  const { io } = deps;
  const program = new Command("belay")
    .description("belay: incident runbooks you can trust at 3 a.m.")
    .usage("<command> [options]")
    .helpOption("-h, --help", "show help for belay or a command")
    .helpCommand(false)
    // `belay incidents list --json`: the options after a subcommand are the subcommand's, not its parent's.
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, "")),
      writeErr: (s) => io.err(s.replace(/\n$/, "")),
      outputError: (s, write) => write(`${s.replace(/\n$/, "")}\n(belay help lists every command and option)\n`),
    })
    .addHelpText("afterAll", EPILOGUE);
  const run = (fn: (...a: any[]) => Promise<number>) => async (...a: any[]) => setCode(await fn(...a));

  example(
    program
      .command("help")
      .argument("[command...]", "a command (and subcommand) to explain")
      .description("every command and option, or one command's help")
      .action(
        run(async (path: string[]) => {
          const { helpText } = await import("./help.ts");
          const text = helpText(program, path);
          if (text === null) {
            io.err(`belay help: no command "${path.join(" ")}"; \`belay help\` lists them all`);
            return EXIT.usage;
          }
          io.out(text);
          return EXIT.ok;
        }),
      ),
    "belay help",
    "belay help drill run",
  );

  example(
    program
      .command("serve")
      .description("HTTP server: /healthz /readyz /metrics, webhooks, Slack, the engine loop")
      .option("--port <n>", "port to listen on (default: PORT, 3000)")
      .option("--host <address>", "address to bind (default: all)")
      .action(
        run(async (o: { port?: string; host?: string }) => (await import("./serve.ts")).serveCommand(o, io)),
      ),
    "belay serve --port 8080 --host 127.0.0.1",
  );

  const playbooks = example(program.command("playbooks").description("the playbook library"), "belay playbooks list", "belay playbooks show redis-maxmemory-policy");
  example(
    playbooks
      .command("list")
      .description("every playbook, by id")
      .option("--json", "machine output")
      .action(run(async (o: { json?: boolean }) => (await import("./playbooks.ts")).playbooksList(o, io))),
    "belay playbooks list --json",
  );
  example(
    playbooks
      .command("show")
      .argument("<id>", "playbook id")
      .description("one playbook: params, permissions, plan")
      .option("--json", "machine output")
      .action(run(async (id: string, o: { json?: boolean }) => (await import("./playbooks.ts")).playbooksShow(id, o, io))),
    "belay playbooks show redis-maxmemory-policy",
  );

  example(
    program
      .command("run")
      .argument("<playbook>", "playbook id (belay playbooks list)")
      .description("run a playbook with this terminal as the approval surface (as your OS login)")
      .option("-p, --param <key=value>", "a param (repeat for each)", collect)
      .option("--dry-run", "preview every step, change nothing")
      .option("--incident <id>", "link the run to an incident (belay incidents list)")
      .option("--json", "print the finished (or parked) run as JSON; plan and prompts go to stderr")
      .addOption(new Option("--as <person>").hideHelp())
      .action(run(async (id: string, o: RunOptions) => (await import("./run.ts")).runCommand(id, o, io))),
    "belay run redis-maxmemory-policy --param redis=cache --param policy=allkeys-lru",
    "belay run node-cordon-drain -p node=worker-3 --dry-run",
  );

  const decision = (kind: "approve" | "deny" | "skip" | "retry" | "abort", description: string, examples: string[]) => {
    const cmd = program.command(kind).argument("<run>", "run id, or a unique prefix of it (7+ characters)");
    if (kind !== "abort") cmd.argument("<step>", "step name or number");
    cmd.description(description);
    if (kind === "approve") {
      cmd.option("--plan <hash>", "approve this plan without a prompt (the hash belay run and belay status print, or a unique prefix of 7+ characters)");
      cmd.option("--no-wait", "record the decision and return; do not carry the run on here");
    }
    cmd.option("--reason <text>", kind === "approve" || kind === "retry" ? "why (required with --as)" : "why (recorded in the audit trail)");
    cmd.option("--as <person>", "break-glass: act for someone else (when approval.breakGlass allows it); needs --reason");
    cmd.option("--json", "print the decision and the run as JSON; everything else goes to stderr");
    cmd.addOption(new Option("--group <group>").hideHelp());
    cmd.action(
      run(async (...a: unknown[]) => {
        const runId = a[0] as string;
        const step = kind === "abort" ? null : (a[1] as string);
        const o = a[kind === "abort" ? 1 : 2] as DecideOptions;
        return (await import("./decide.ts")).decideCommand(kind, runId, step, o, io);
      }),
    );
    example(cmd, ...examples);
  };
  decision("approve", "show a waiting step's preview and plan hash, and approve that plan", [
    "belay approve run_k3x9 set-samples",
    "belay approve run_k3x9 set-samples --plan 4f2a9c1 --no-wait",
  ]);
  decision("deny", "deny a waiting step: the run stops", ["belay deny run_k3x9 set-samples --reason 'wrong cluster'"]);
  decision("skip", "skip a waiting or uncertain step", ["belay skip run_k3x9 flush-cache --reason 'done by hand'"]);
  decision("retry", "retry an interrupted (uncertain) step that did not take effect", ["belay retry run_k3x9 set-samples"]);
  decision("abort", "stop a run", ["belay abort run_k3x9 --reason 'paged the owner instead'"]);

  example(
    program
      .command("runs")
      .description("recent runs, newest first")
      .option("--limit <n>", "how many (1-1000)", "20")
      .option("--json", "machine output")
      .action(run(async (o: { limit: string; json?: boolean }) => (await import("./runs.ts")).runsList(o, io))),
    "belay runs --limit 5",
  );
  example(
    program
      .command("status")
      .argument("<run>", "run id, or a unique prefix of it (7+ characters)")
      .description("one run: its plan hash, steps, previews, verify results and outcome")
      .option("--json", "machine output")
      .action(run(async (id: string, o: { json?: boolean }) => (await import("./runs.ts")).runStatus(id, o, io))),
    "belay status run_k3x9",
  );

  example(
    program
      .command("match")
      .argument("[text...]", "free text describing the problem (instead of --alert)")
      .description("the failure mode and ranked playbooks for an alert file, or for free text")
      .option("--alert <file>", "an Alertmanager, PagerDuty v3 or normalised alert file; - reads standard input")
      .option("--json", "machine output: each alert's status, failure mode, candidates and the params filled from it")
      .action(
        run(async (text: string[], o: { alert?: string; json?: boolean }) => {
          const { matchCommand } = await import("./match.ts");
          return matchCommand({ text: text.join(" "), ...o }, { out: io.out, err: io.err, readStdin: io.readStdin, loadPlaybooks: deps.loadPlaybooks ?? (await playbookLoader(io)) });
        }),
      ),
    'belay match "redis OOM command not allowed on cache"',
    "belay match --alert alert.json --json",
    "curl -s $URL | belay match --alert -",
  );

  const audit = example(program.command("audit").description("the tamper-evident audit trail"), "belay audit verify", "belay audit export --run run_k3x9");
  example(
    audit
      .command("verify")
      .description("check the whole hash chain (and the MACs with BELAY_AUDIT_HMAC_KEY)")
      .option("--expect-head <hash>", "also check the chain still holds this published head (64 hex digits)")
      .option("--expect-mac <seq:mac>", "also check the MAC chain still holds this published MAC")
      .option("--json", "machine output")
      .action(run(async (o: AuditVerifyOptions) => (await import("./audit.ts")).auditVerify(o, io))),
    "belay audit verify --json",
  );
  example(
    audit
      .command("sign")
      .description("sign events not signed yet (needs BELAY_AUDIT_HMAC_KEY)")
      .option("--json", "machine output")
      .action(run(async (o: { json?: boolean }) => (await import("./audit.ts")).auditSign(o, io))),
    "belay audit sign",
  );
  example(
    audit
      .command("export")
      .description("the timeline of one run or incident")
      .option("--run <id>", "a run id (or unique prefix)")
      .option("--incident <id>", "an incident id")
      .option("--format <md|json>", "md or json", "md")
      .option("--json", "same as --format json")
      .action(run(async (o: AuditExportOptions) => (await import("./audit.ts")).auditExport(o, io))),
    "belay audit export --incident inc_7hq2 --format json",
  );

  example(
    program
      .command("docs")
      .description("write (or check) runbooks/<id>.md from the playbooks")
      .option("--check", "write nothing; exit 1 when a runbook is stale")
      .option("--out <dir>", "where the runbooks go", "runbooks")
      .action(run(async (o: { check?: boolean; out: string }) => (await import("./docs.ts")).docsCommand(o, io))),
    "belay docs --check",
  );

  const drill = example(program.command("drill").description("game-day drills from playbooks/drills/"), "belay drill list", "belay drill run redis-maxmemory");
  example(
    drill
      .command("list")
      .description("the drills")
      .option("--json", "machine output")
      .action(run(async (o: { json?: boolean }) => (await import("./drill.ts")).drillList(o, io))),
    "belay drill list --json",
  );
  example(
    drill
      .command("run")
      .argument("<id>", "drill id (belay drill list)")
      .description("run a drill: inject, detect, propose, approve, recover, undo, report")
      .option("--target <name|url>", "the target to drill: a configured target's name, or a URL (redis://host:port)")
      .option("--detect <mode>", "synthetic (default: belay sends the alert) or real (wait for your monitoring)")
      .option("--detect-within <seconds>", "with --detect real: how long to wait for the alert")
      .option("--report <file>", "also write the report (.md, or .json)")
      .option("--json", "print only the report as JSON on stdout (progress goes to stderr)")
      .addOption(new Option("--as <person>").hideHelp())
      .addOption(new Option("--reason <text>").hideHelp())
      .action(run(async (id: string, o: DrillRunOptions) => (await import("./drill.ts")).drillRun(id, o, io))),
    "belay drill run redis-maxmemory --target redis://127.0.0.1:6379",
    "belay drill run redis-maxmemory --detect real --detect-within 120 --json > report.json",
  );
  example(
    drill
      .command("abort")
      .argument("[drillrun]", "a drill run id (default: every running drill)")
      .description("stop a drill; its injection is undone")
      .option("--reason <text>", "why")
      .option("--as <person>", "break-glass: act for someone else; needs --reason")
      .action(run(async (id: string | undefined, o: { as?: string; reason?: string }) => (await import("./drill.ts")).drillAbort(id, o, io))),
    "belay drill abort",
  );
  example(
    drill
      .command("report")
      .argument("<drillrun>", "a drill run id (belay drill runs)")
      .description("a finished drill's report")
      .option("--format <md|json>", "md or json", "md")
      .option("--json", "same as --format json")
      .action(run(async (id: string, o: { format: string; json?: boolean }) => (await import("./drill.ts")).drillReport(id, o, io))),
    "belay drill report dr_m2k8",
  );
  example(
    drill
      .command("runs")
      .description("recent drill runs, newest first (ids for belay drill report)")
      .option("--drill <id>", "only this drill")
      .option("--limit <n>", "how many (1-1000)", "20")
      .option("--json", "machine output")
      .action(run(async (o: { drill?: string; limit: string; json?: boolean }) => (await import("./drill.ts")).drillRuns(o, io))),
    "belay drill runs --drill redis-maxmemory",
  );

  const incidents = example(
    program
      .command("incidents")
      .enablePositionalOptions()
      .description("incidents belay opened from alerts (ids for postmortem, retriage, run --incident)")
      .option("--status <open|resolved>", "only these")
      .option("--limit <n>", "how many (1-1000)", "20")
      .option("--json", "machine output")
      .action(run(async (o: IncidentsListOptions) => (await import("./incidents.ts")).incidentsList(o, io))),
    "belay incidents",
    "belay incidents show inc_7hq2",
  );
  example(
    incidents
      .command("list")
      .description("recent incidents, newest first")
      .option("--status <open|resolved>", "only these")
      .option("--limit <n>", "how many (1-1000)", "20")
      .option("--json", "machine output")
      .action(run(async (o: IncidentsListOptions) => (await import("./incidents.ts")).incidentsList(o, io))),
    "belay incidents list --status open",
  );
  example(
    incidents
      .command("show")
      .argument("<id>", "an incident id (or unique prefix)")
      .description("one incident: its alerts and runs")
      .option("--json", "machine output")
      .action(run(async (id: string, o: { json?: boolean }) => (await import("./incidents.ts")).incidentsShow(id, o, io))),
    "belay incidents show inc_7hq2",
  );

  example(
    program
      .command("postmortem")
      .argument("<incident>", "an incident id (belay incidents)")
      .description("a post-incident review draft from the audit trail")
      .option("--format <md|json>", "md or json", "md")
      .option("--json", "same as --format json")
      .option("--chart <file>", "also draw the firing expression as a PNG (needs a prometheus target)")
      .action(run(async (id: string, o: { format: string; json?: boolean; chart?: string }) => (await import("./postmortem.ts")).postmortemCommand(id, o, io))),
    "belay postmortem inc_7hq2 --chart chart.png > review.md",
  );
  example(
    program
      .command("retriage")
      .argument("<incident>", "an incident id (belay incidents)")
      .description("match and propose again (belay serve's worker runs it)")
      .option("--as <user>", "who asked (default: your login)")
      .option("--json", "machine output")
      .action(run(async (id: string, o: { as?: string; json?: boolean }) => (await import("./retriage.ts")).retriageCommand(id, o, io))),
    "belay retriage inc_7hq2",
  );

  example(
    program
      .command("rbac")
      .description("the Kubernetes Role/ClusterRole and bindings for belay's ServiceAccount, from the permissions the enabled playbooks declare")
      .option("--namespace <name>", "belay's namespace (where its ServiceAccount and Role live)", "belay")
      .option("--cluster", "grant namespaced permissions cluster-wide (a ClusterRole), for playbooks that act in any namespace")
      .option("--check <file>", "write nothing; exit 1 when FILE differs from what would be printed (a CI freshness check)")
      .action(run(async (o: { namespace?: string; cluster?: boolean; check?: string }) => (await import("./rbac.ts")).rbacCommand(o, io))),
    "belay rbac --namespace belay --cluster > deploy/rbac.yaml",
    "belay rbac --namespace belay --cluster --check deploy/rbac.yaml",
  );

  return program;
}

async function playbookLoader(io: CliIo): Promise<() => Promise<AnyPlaybook[]>> {
  const [{ loadPlaybooks }, { configFrom }] = await Promise.all([import("../plan/registry.ts"), import("./io.ts")]);
  const dir = configFrom(io).env.BELAY_PLAYBOOKS_DIR;
  return async () => [...(await loadPlaybooks(dir)).values()];
}
