import type { ApprovalPolicy } from "../approve/policy.ts";
import type { AuditEvent } from "../audit/events.ts";
import type { Db } from "../store/driver.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { Targets } from "../targets/types.ts";
import type { Keyring } from "./secrets.ts";

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

/** Points in a step's life where tests (and only tests) may stop the process. */
export type Phase =
  | "step.before" // nothing written yet for this step
  | "act.started" // the step is durably `running`; its mutation has not begun
  | "act.ran" // the mutation returned; not yet recorded
  | "act.recorded" // the mutation is recorded; verify has not run
  | "step.after"; // the step's outcome is durably written

export interface EngineDeps {
  db: Db;
  clock: () => Date;
  newId: (prefix: string) => string;
  logger: Logger;
  targets: Targets;
  playbooks: ReadonlyMap<string, AnyPlaybook>;
  policy: ApprovalPolicy;
  /** This process's name for leases: unique per process. */
  owner: string;
  /** How long a lease lasts without renewal (default 30 s); renewed every third of that. */
  leaseMs?: number;
  /** Poll interval of the worker loop (default 500 ms). */
  pollMs?: number;
  /** Runs one process works on at once (default 4). */
  concurrency?: number;
  /** Called with each committed batch of audit events: surfaces re-render from here. */
  onEvents?: (events: readonly AuditEvent[]) => void;
  /** Delivers a notify step's message to wherever the run is being worked. */
  notify?: (run: { id: string; incidentId: string | null }, message: string) => Promise<void>;
  /**
   * Seals secret params and secret-bearing outputs in the store (BELAY_SECRET_KEY), so any
   * replica can finish a run. Without it, a run with a secret param cannot be proposed.
   */
  keyring?: Keyring;
  /** Test hook at each phase of a step. */
  onPhase?: (phase: Phase, at: { runId: string; step: string; idx: number }) => void | Promise<void>;
}
