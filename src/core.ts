import type { Server } from "node:http";
import type { Config } from "./config.ts";
import type { AuditEvent } from "./audit/events.ts";
import type { DrillSession } from "./drills/session.ts";
import type { Engine } from "./execute/engine.ts";
import type { Logger } from "./execute/deps.ts";
import type { AnyPlaybook } from "./sdk/playbook.ts";
import type { Drill } from "./sdk/drill.ts";
import type { Metrics } from "./server/metrics.ts";
import type { Db } from "./store/driver.ts";
import type { TargetHolder } from "./targets/registry.ts";
import type { Targets } from "./targets/types.ts";
import type { Integration } from "./surfaces.ts";

// What the composition root (main.ts) builds, as types only: surfaces import these from
// here, so no import runs back into main.ts.

/** What openCore builds: config, clients and the engine, wired (main.ts is the only place that builds real ones). */
export interface Core {
  config: Config;
  logger: Logger;
  db: Db;
  /** Where webhooks are stored before their 202: on Postgres a small pool of its own, so drain, triage and runs never hold up an ack. */
  inboxDb: Db;
  playbooks: Map<string, AnyPlaybook>;
  targets: Targets & TargetHolder & { close(): Promise<void> };
  engine: Engine;
  metrics: Metrics;
  /** Subscribe to committed audit events (surfaces re-render from these). */
  subscribe(fn: (events: readonly AuditEvent[]) => void): void;
  /** Game-day drills, when `belay serve` opened a drill session (surfaces start them from here). */
  drills?: { defs: ReadonlyMap<string, Drill>; session: DrillSession };
  /** Where notify steps deliver; surfaces add themselves. */
  addNotifier(fn: (run: { id: string; incidentId: string | null }, message: string) => Promise<void>): void;
  close(): Promise<void>;
}


export interface Serving {
  core: Core;
  server: Server;
  url: string;
  integrations: Integration[];
  close(): Promise<void>;
}
