import { systemPrincipal } from "../identity/principal.ts";
import { randomBytes } from "node:crypto";
import type { Config } from "../config.ts";
import { newId } from "../ids.ts";
import type { Serving } from "../core.ts";
import type { DrillSession } from "./session.ts";
export type { DrillSession } from "./session.ts";
import type { Drill } from "../sdk/drill.ts";
import { drillTargetMarks } from "./drill-targets.ts";
import { createDrillFaults } from "./faults.ts";
import { awaitInjectionApproval, DRILL_GATE_PLAYBOOK, drillGatePlaybook } from "./gate.ts";
import { recoverOrphanedDrills, type RecoveredDrill } from "./recover.ts";
import { runDrill, type DrillDeps } from "./runner.ts";
import type { DetectMode } from "./detect.ts";
import { RehearsalWorld, withRehearsal } from "./simulation.ts";
import type { DrillReport } from "./report.ts";

/** Config for a drill's own belay: the webhook route is on even without ALERTMANAGER_TOKEN (a one-off token). */
export function drillConfig(config: Config): Config {
  return { ...config, env: { ...config.env, ALERTMANAGER_TOKEN: config.env.ALERTMANAGER_TOKEN ?? `drill-${randomBytes(16).toString("hex")}` } };
}

/**
 * Wires drills into a serving belay: alerts go to its own Alertmanager route over HTTP, the
 * rehearsal's simulated cluster is added to the engine's targets under its own name (nothing
 * else changes), and drills a dead process left injected are undone first.
 */
export async function openDrillSession(serving: Serving, drills: ReadonlyMap<string, Drill>, opts: { progress?: (line: string) => void; leaseMs?: number } = {}): Promise<DrillSession> {
  const { core } = serving;
  const token = core.config.env.ALERTMANAGER_TOKEN;
  const world = new RehearsalWorld();
  const faults = createDrillFaults(core.config.file.targets, world);
  // The engine reads its targets at each step: the rehearsal's cluster is one more name.
  core.engine.deps.targets = withRehearsal(core.targets, world);
  // The injection gate is one more playbook for the engine only (not listed or matched anywhere).
  core.engine.deps.playbooks = new Map([...core.engine.deps.playbooks, [DRILL_GATE_PLAYBOOK, drillGatePlaybook]]);
  const deps: DrillDeps = {
    db: core.db,
    clock: () => new Date(),
    newId,
    logger: core.logger,
    targets: core.engine.deps.targets,
    faults,
    drillTargets: drillTargetMarks(core.config.file.targets),
    targetDirectory: core.config.file.targets,
    owner: core.engine.deps.owner,
    leaseMs: opts.leaseMs,
    progress: opts.progress,
    simulatedUrl: () => world.serveStub(),
    sendAlert: async (payload) => {
      const res = await fetch(`${serving.url}/webhooks/alertmanager`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "user-agent": "belay-drill" },
        body: JSON.stringify(payload),
      });
      await res.arrayBuffer();
      return res.status;
    },
    approveInjection: (input) =>
      awaitInjectionApproval(core.engine, { ...input, clock: () => new Date(), timeoutMs: (input.drill.meta.maxDurationS ?? 600) * 1000 }),
    abortRun: async (runId, reason) => {
      await core.engine.decide({ kind: "abort", runId, actor: systemPrincipal("drill"), reason });
    },
  };
  const recovered = await recoverOrphanedDrills(deps, drills);
  return {
    deps,
    world,
    recovered,
    run: (drill, o) => runDrill(deps, drill, o),
    close: () => faults.close(),
  };
}
