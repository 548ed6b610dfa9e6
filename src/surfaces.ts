import type { AuditEvent } from "./audit/events.ts";
import type { IncidentRunOutcome } from "./incidents/run-outcomes.ts";
import type { Route } from "./server/http.ts";
import type { Alert } from "./sdk/alert.ts";

/** An incident as surfaces show it. */
export interface IncidentRef {
  id: string;
  title: string;
  service: string | null;
  drill: boolean;
  /** PagerDuty incident id, when the incident came from (or was mirrored to) PagerDuty. */
  pagerdutyIncidentId: string | null;
}

/** What auto-triage found: posted in the incident's thread before the first human arrives. */
export interface TriageReport {
  incident: IncidentRef;
  /** The alerts to show (the first few of the incident). */
  alerts: readonly Alert[];
  /** How many alerts the incident has in all (`alerts` lists only some); absent: `alerts` is all of them. */
  alertCount?: { total: number; firing: number };
  failureMode: string | null;
  reasons: readonly string[];
  candidates: readonly { playbook: string; score: number; reasons: readonly string[] }[];
  /** The run proposed for the best candidate (its diagnose steps have run), or null. */
  runId: string | null;
  /** With no playbook matching: the closest catalog entries. */
  closest: readonly { id: string; symptom: string }[];
  /** How each target param of the proposed (or asked-for) playbook was found: label, matcher, only target, asked. */
  targets?: readonly { param: string; kind: string; name: string | null; how: string; detail: string }[];
  /** Set when belay could not fill a param (which target?): the form to ask a human for it, and why. */
  ask?: { playbook: string; params: Readonly<Record<string, string>>; issues: readonly { field: string; message: string }[] } | null;
}

export interface ThreadRef {
  channel: string;
  ts: string;
  permalink?: string;
}

/**
 * How the pipeline tells humans about incidents. The Slack app implements it; with Slack
 * off, a logging implementation stands in. Implementations pace their own API calls.
 */
export interface IncidentNotifier {
  /** Posts the triage and the run's proposal (Block Kit, with buttons) in the incident's thread. */
  postTriage(report: TriageReport): Promise<ThreadRef | null>;
  /**
   * All alerts resolved: say so in the thread; proposals nobody approved are withdrawn.
   * `runs` are the incident's runs and what each did, so the note names the one that fixed it.
   */
  postResolved(incident: IncidentRef, withdrawnRunIds: readonly string[], runs?: readonly IncidentRunOutcome[]): Promise<void>;
  /** A note in the incident's thread (e.g. alerts still firing after a fix). */
  postNote?(incident: IncidentRef, text: string): Promise<void>;
}

/**
 * A surface that plugs into `belay serve`: routes on the shared port, a status line for the
 * start-up banner, and optional start/stop (Socket Mode, background pacing).
 */
export interface Integration {
  name: string;
  routes: Route[];
  /** "on (...)" or "not configured (set X)". */
  status: string;
  start?(): Promise<void>;
  stop?(): Promise<void>;
  /** Committed audit events: re-render what shows these runs. Must not throw or block. */
  onEvents?(events: readonly AuditEvent[]): void;
  /** A notify step's message for a run. */
  notify?(run: { id: string; incidentId: string | null }, message: string): Promise<void>;
}
