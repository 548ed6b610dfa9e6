import type { AuditEvent } from "../audit/events.ts";
import { catalog as defaultCatalog } from "../catalog/index.ts";
import type { Catalog } from "../catalog/types.ts";
import type { Engine } from "../execute/engine.ts";
import type { Logger } from "../execute/deps.ts";
import type { DrainResult } from "../incidents/drain.ts";
import { resolveHandler } from "../incidents/resolve.ts";
import { triageHandler } from "../incidents/triage.ts";
import { watchAfterFix, watchHandler } from "../incidents/watch.ts";
import { IncidentWorker } from "../incidents/worker.ts";
import { createMatcher } from "../match/index.ts";
import type { PagerDutyClient } from "../pagerduty/client.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import type { TargetDirectory } from "../plan/targets.ts";
import { standingConnections } from "../incidents/standing.ts";
import type { TargetHolder } from "../targets/registry.ts";
import type { Route } from "../server/http.ts";
import type { Db, Queryable } from "../store/driver.ts";
import type { IncidentNotifier } from "../surfaces.ts";
import { alertmanagerHandler, notConfiguredHandler, pagerDutyHandler } from "./handlers.ts";
import { Inbox } from "./inbox.ts";

export interface IngestionDeps {
  db: Db;
  engine: Pick<Engine, "propose" | "drive" | "view" | "playbook" | "decide">;
  playbooks: readonly AnyPlaybook[];
  catalog?: Catalog;
  notifier: IncidentNotifier;
  pagerduty: PagerDutyClient | null;
  logger: Logger;
  clock: () => Date;
  newId: (prefix: string) => string;
  /** This process's name for job leases. */
  owner: string;
  /** PagerDuty webhook secrets (several while rotating); none: the route is not mounted. */
  pagerdutySecrets: readonly string[];
  /** ALERTMANAGER_TOKEN; null: the route is not mounted. */
  alertmanagerToken: string | null;
  bodyLimit?: number;
  /** The configured targets (their `labels:` matchers): target params and correlation are found from the alert. */
  targets?: TargetDirectory;
  /** Given: belay keeps a connection to each configured Redis/Postgres target (`targets`), and to each one an open incident is about. */
  holder?: TargetHolder;
  /** A resolved incident about a target is reopened by a related alert within this, and its proposals wait as long before being withdrawn (default 0). */
  resolveSettleMs?: number;
  /** Service + failure-mode grouping window (default 10 min; 0 turns it off). */
  windowMs?: number;
  /** How long after a verified fix belay looks whether the incident's alerts still fire (default 10 min; 0: never). */
  watchAfterFixMs?: number;
  /** Triage jobs at once (default 2). */
  triageConcurrency?: number;
  driveTimeoutMs?: number;
  jobTimeoutMs?: number;
  pollMs?: number;
  onEvents?: (events: readonly AuditEvent[]) => void;
  /** Metrics hooks. */
  countWebhook?: (source: string, status: number, alerts: number) => void;
  countStaleWebhook?: (source: string) => void;
  /** PagerDuty deliveries older than this (by their signed occurred_at) are ignored (default 1 hour). */
  webhookMaxAgeMs?: number;
  onDrained?: (r: DrainResult) => void;
  /** Where webhooks are stored, when not `db`: a pool of its own, so other work never starves the acks (tests put a failing store here). */
  inboxDb?: Queryable;
  /** A webhook not stored by then is answered 503 (default 4 s). */
  inboxDeadlineMs?: number;
}

export interface Ingestion {
  routes: Route[];
  /** Engine audit events: a run of an incident that succeeded schedules the watch after the fix. */
  onEvents: (events: readonly AuditEvent[]) => void;
  inbox: Inbox;
  worker: IncidentWorker;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Ingestion wired together: the webhook routes store into the inbox (202 after commit), the
 * worker drains it into incidents and runs triage and resolution jobs.
 */
export function createIngestion(deps: IngestionDeps): Ingestion {
  const catalog = deps.catalog ?? defaultCatalog;
  const matcher = createMatcher(deps.playbooks, catalog);
  const standing = deps.holder ? standingConnections({ db: deps.db, holder: deps.holder, logger: deps.logger, ...(deps.targets ? { configured: deps.targets } : {}) }) : null;
  const watchMs = deps.watchAfterFixMs ?? 600_000;
  const worker = new IncidentWorker({
    logger: deps.logger,
    pollMs: deps.pollMs,
    onDrained: (r) => {
      deps.onDrained?.(r);
      if (standing && (r.opened.length > 0 || r.resolved.length > 0 || r.alerts > 0)) void standing.sync();
    },
    drain: {
      db: deps.db,
      clock: deps.clock,
      newId: deps.newId,
      matcher,
      windowMs: deps.windowMs ?? 600_000,
      reopenWithinMs: deps.resolveSettleMs ?? 0,
      ...(deps.targets ? { targets: deps.targets } : {}),
      onEvents: deps.onEvents,
    },
    jobs: {
      db: deps.db,
      clock: deps.clock,
      logger: deps.logger,
      owner: deps.owner,
      concurrency: deps.triageConcurrency ?? 2,
      timeoutMs: deps.jobTimeoutMs,
      handlers: {
        triage: triageHandler({
          db: deps.db,
          engine: deps.engine,
          matcher,
          catalog,
          notifier: deps.notifier,
          pagerduty: deps.pagerduty,
          clock: deps.clock,
          newId: deps.newId,
          logger: deps.logger,
          driveTimeoutMs: deps.driveTimeoutMs,
          onEvents: deps.onEvents,
          ...(deps.targets ? { targets: deps.targets } : {}),
        }),
        resolve: resolveHandler({ db: deps.db, engine: deps.engine, notifier: deps.notifier, logger: deps.logger, settleMs: deps.resolveSettleMs ?? 0 }),
        watch: watchHandler({ db: deps.db, notifier: deps.notifier, clock: deps.clock, newId: deps.newId, afterMs: watchMs, onEvents: deps.onEvents }),
      },
    },
  });
  const inbox = new Inbox({ db: deps.inboxDb ?? deps.db, clock: deps.clock, newId: deps.newId, deadlineMs: deps.inboxDeadlineMs, onStored: () => worker.wake() });
  const common = { inbox, logger: deps.logger, bodyLimit: deps.bodyLimit ?? 1024 * 1024, count: deps.countWebhook };
  const routes: Route[] = [];
  // An unconfigured source still has its route: it answers 503 naming the variable to set.
  routes.push({
    method: "POST",
    path: "/webhooks/pagerduty",
    handler:
      deps.pagerdutySecrets.length > 0
        ? pagerDutyHandler({ ...common, secrets: deps.pagerdutySecrets, clock: deps.clock, maxAgeMs: deps.webhookMaxAgeMs ?? 3_600_000, countStale: deps.countStaleWebhook })
        : notConfiguredHandler(common, "pagerduty", "PAGERDUTY_WEBHOOK_SECRET"),
  });
  routes.push({
    method: "POST",
    path: "/webhooks/alertmanager",
    handler: deps.alertmanagerToken ? alertmanagerHandler({ ...common, token: deps.alertmanagerToken }) : notConfiguredHandler(common, "alertmanager", "ALERTMANAGER_TOKEN"),
  });
  return {
    routes,
    onEvents: watchAfterFix({ db: deps.db, clock: deps.clock, newId: deps.newId, logger: deps.logger, afterMs: watchMs }),
    inbox,
    worker,
    start: () => {
      worker.start();
      standing?.start();
    },
    stop: async () => {
      await worker.stop();
      await standing?.stop();
    },
  };
}
