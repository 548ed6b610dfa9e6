import { serve } from "../main.ts";
import type { Config } from "../config.ts";
import { configFrom, type CliIo } from "./io.ts";
import { checkListen } from "../server/http.ts";
import { describeWhere } from "../where.ts";

export interface ServeOptions {
  port?: string;
  host?: string;
}

export async function serveCommand(o: ServeOptions, io: CliIo): Promise<number> {
  // From the first line: a SIGTERM during start-up still ends in a drain and exit 0, not a kill.
  const shutdown = shutdownSignal(io);
  try {
    return await serveUntilSignal(o, io, shutdown.received);
  } finally {
    shutdown.dispose();
  }
}

async function serveUntilSignal(values: ServeOptions, io: CliIo, received: Promise<NodeJS.Signals>): Promise<number> {
  const config = configFrom(io);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    io.err(`--port ${values.port}: use a port number from 0 to 65535`);
    return 2;
  }
  io.out(`where: ${describeWhere(config, io.env)}`);
  await checkListen(port ?? config.env.PORT, values.host); // a port in use is said before the store opens
  const s = await serve(config, { ...(port !== undefined ? { port } : {}), ...(values.host ? { host: values.host } : {}) });
  const store = config.env.DATABASE_URL ? "Postgres (DATABASE_URL)" : `embedded PGlite in ${config.env.BELAY_DATA_DIR}`;
  io.out(`belay listening on ${s.url}  (store: ${store}; ${s.core.playbooks.size} playbooks)`);
  io.out(`  GET ${s.url}/healthz  /readyz  /metrics`);
  for (const i of s.integrations) io.out(`  ${i.name}: ${i.status}`);
  const policyNote = defaultPolicyWarning(config);
  if (policyNote) {
    s.core.logger.warn({ policy: "default" }, policyNote);
    io.out(`  !! ${policyNote}`);
  }
  // Drills: undo whatever a stopped belay left injected, and let surfaces start drills.
  const [{ loadDrills, drillsDirOf }, { openDrillSession }] = await Promise.all([import("../drills/registry.ts"), import("../drills/launch.ts")]);
  const drills = await loadDrills(drillsDirOf(config.env.BELAY_PLAYBOOKS_DIR));
  const session = await openDrillSession(s, drills);
  s.core.drills = { defs: drills, session };
  for (const r of session.recovered) {
    io.out(`  [DRILL] ${r.drillRunId} (${r.drillId}) was left injected by a stopped belay: undid ${r.undone.join(", ") || "nothing"}${r.failed.length ? `; FAILED to undo ${r.failed.map((f) => f.name).join(", ")}: fix by hand` : ""}`);
  }
  io.out(`  Drills: ${drills.size} (belay drill list)${config.env.ALERTMANAGER_TOKEN ? "" : "; starting one from Slack needs ALERTMANAGER_TOKEN (its alert goes through that webhook)"}`);
  const signal = await received;
  const began = performance.now();
  const drainMs = config.env.BELAY_DRAIN_TIMEOUT_SECONDS * 1000;
  io.out(`${signal}: draining (/readyz 503; act steps in progress get up to ${config.env.BELAY_DRAIN_TIMEOUT_SECONDS} s, BELAY_DRAIN_TIMEOUT_SECONDS)`);
  const report = await s.drain(drainMs);
  const ids = (l: string[]) => (l.length ? ` (${l.join(", ")})` : "");
  io.out(`  handed over ${report.handedOver.length}${ids(report.handedOver)}; finished ${report.finished.length}${ids(report.finished)}; given up at the timeout ${report.abandoned.length}${ids(report.abandoned)}`);
  await session.close();
  await s.close();
  io.out(`stopped in ${Math.round(performance.now() - began)} ms`);
  return 0;
}

/**
 * SIGTERM (Kubernetes) and SIGINT (a terminal) both start a drain; a second one while
 * draining stops at once (exit 1: whatever was in flight is recovered like after a crash).
 */
function shutdownSignal(io: CliIo): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let got: NodeJS.Signals | null = null;
  let resolve!: (s: NodeJS.Signals) => void;
  const received = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const onSignal = (signal: NodeJS.Signals) => {
    if (got) {
      io.err(`${signal} again while draining: stopping now; runs in flight are recovered by another replica`);
      process.exit(1);
    }
    got = signal;
    resolve(signal);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return {
    received,
    dispose() {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    },
  };
}

/** Loud when nobody configured who may approve what: fine for a trial, never for production. */
export function defaultPolicyWarning(config: Config): string | null {
  if (!config.approval.isDefault) return null;
  return "DEFAULT APPROVAL POLICY in force: any one person may approve low and medium risk, any two (never the requester) high risk. Set approval.risks in BELAY_CONFIG before production.";
}
