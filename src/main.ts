import { hostname } from "node:os";
import type { Config } from "./config.ts";
import { Engine, type DrainReport } from "./execute/engine.ts";
import { makeKeyring, parseKey } from "./execute/secrets.ts";
import { BelayError } from "./errors.ts";
import { secretParamNames } from "./plan/bind.ts";
import { newId } from "./ids.ts";
import { createLogger } from "./logger.ts";
import { loadPlaybooks } from "./plan/registry.ts";
export type { Core, Serving } from "./core.ts";
import { createHttpServer, listen } from "./server/http.ts";
import type { Core, Serving } from "./core.ts";
import { signPending } from "./audit/anchor.ts";
import type { AuditEvent } from "./audit/events.ts";
import { Metrics } from "./server/metrics.ts";
import { openStore } from "./store/open.ts";
import { openPg } from "./store/pg.ts";
import { createTargets } from "./targets/registry.ts";

/** `logDestination`: where log lines go (default stderr); the CLI passes one that keeps them off a prompt's line. */
export async function openCore(config: Config, opts: { command: string; logLevel?: string; logDestination?: { write(line: string): void } }): Promise<Core> {
  const logger = createLogger(opts.logLevel ?? config.env.BELAY_LOG_LEVEL, opts.logDestination);
  const playbooks = await loadPlaybooks(config.env.BELAY_PLAYBOOKS_DIR);
  const keyring = config.env.BELAY_SECRET_KEY
    ? makeKeyring(
        parseKey(config.env.BELAY_SECRET_KEY, "BELAY_SECRET_KEY"),
        (config.env.BELAY_SECRET_KEYS_OLD ?? "").split(",").filter((k) => k.trim()).map((k) => parseKey(k, "BELAY_SECRET_KEYS_OLD")),
      )
    : undefined;
  const withSecrets = [...playbooks.values()].filter((pb) => secretParamNames(pb.params).size > 0).map((pb) => pb.id);
  if (withSecrets.length > 0 && !keyring) {
    throw new BelayError(
      "config.invalid",
      `playbook(s) ${withSecrets.join(", ")} declare secret params, which are stored sealed with BELAY_SECRET_KEY; set it (openssl rand -base64 32) and start belay again`,
    );
  }
  const db = await openStore({ databaseUrl: config.env.DATABASE_URL, dataDir: config.env.BELAY_DATA_DIR, command: opts.command });
  // pg connects lazily: a command that never stores a webhook never opens one. PGlite is one session anyway.
  const inboxDb = config.env.DATABASE_URL ? openPg(config.env.DATABASE_URL, { max: 4, applicationName: "belay-inbox" }) : db;
  const targets = createTargets(config.file.targets, { logger });
  const metrics = new Metrics();
  const listeners: ((events: readonly AuditEvent[]) => void)[] = [];
  const notifiers: ((run: { id: string; incidentId: string | null }, message: string) => Promise<void>)[] = [];
  const engine = new Engine({
    keyring,
    db,
    clock: () => new Date(),
    newId,
    logger,
    targets,
    playbooks,
    policy: config.approval,
    owner: `${hostname()}:${process.pid}:${newId("p").slice(2, 8)}`,
    onEvents: (events) => {
      for (const e of events) metrics.inc("belay_audit_events_total", "Audit events written, by kind.", { kind: e.kind });
      for (const fn of listeners) {
        try {
          fn(events);
        } catch (err) {
          logger.error({ err }, "an audit event subscriber failed");
        }
      }
    },
    notify: async (run, message) => {
      if (notifiers.length === 0) logger.info({ runId: run.id, message }, "notify step (no surface configured)");
      await Promise.all(notifiers.map((fn) => fn(run, message)));
    },
  });
  metrics.collect(async () => {
    const r = await db.query<{ status: string; n: number }>("SELECT status, count(*)::int8 AS n FROM runs GROUP BY status");
    metrics.resetGauge("belay_runs", "Runs by status.");
    for (const row of r.rows) metrics.set("belay_runs", "Runs by status.", { status: row.status }, row.n);
  });
  return {
    config,
    logger,
    db,
    inboxDb,
    playbooks,
    targets,
    engine,
    metrics,
    subscribe: (fn) => listeners.push(fn),
    addNotifier: (fn) => notifiers.push(fn),
    async close() {
      await engine.stop();
      // A CLI command's events are signed before it exits (belay serve signs as they commit).
      const key = config.env.BELAY_AUDIT_HMAC_KEY;
      if (key) {
        await signPending(db, key)
          .then((r) => r.refused && logger.error({ reason: r.refused }, `audit anchoring refused to sign: ${r.refused}; run belay audit verify`))
          .catch((err: unknown) => logger.error({ err }, "audit anchoring: signing failed; belay audit sign retries"));
      }
      await targets.close();
      if (inboxDb !== db) await inboxDb.close();
      await db.close();
    },
  };
}


/** `belay serve`: the engine loop plus the HTTP server on PORT. */
export async function serve(config: Config, opts: { port?: number; host?: string; logDestination?: { write(line: string): void } } = {}): Promise<Serving & { drain(timeoutMs: number): Promise<DrainReport> }> {
  const core = await openCore(config, { command: "belay serve", ...(opts.logDestination ? { logDestination: opts.logDestination } : {}) });
  // Loaded here, not at the top: Bolt and the webhook code are for the server, not the CLI.
  const { integrations: buildIntegrations } = await import("./integrations.ts");
  const integrations = await buildIntegrations(core).catch(async (err: unknown) => {
    await core.close();
    throw err;
  });
  for (const i of integrations) {
    if (i.onEvents) core.subscribe(i.onEvents.bind(i));
    if (i.notify) core.addNotifier(i.notify.bind(i));
  }
  // Set by drain(): /readyz says 503 at once, so the Service stops sending work here.
  let draining = false;
  const server = createHttpServer({
    draining: () => draining,
    routes: integrations.flatMap((i) => i.routes),
    metrics: core.metrics,
    logger: core.logger,
    ready: async () => {
      await core.db.query("SELECT 1");
      return { ok: true, detail: `store ${core.db.kind} answers; ${core.playbooks.size} playbooks loaded` };
    },
  });
  let addr;
  try {
    addr = await listen(server, opts.port ?? config.env.PORT, opts.host);
  } catch (err) {
    await core.close();
    throw err;
  }
  core.engine.start();
  for (const i of integrations) await i.start?.();
  return {
    core,
    server,
    url: `http://${addr.address === "::" || addr.address === "0.0.0.0" ? "localhost" : addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`,
    integrations,
    /** Graceful shutdown, first stage: see Engine.drain. Webhooks are still accepted meanwhile. */
    async drain(timeoutMs: number) {
      draining = true;
      return core.engine.drain(timeoutMs);
    },
    async close() {
      for (const i of integrations) await i.stop?.();
      const closing = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      // A keep-alive connection that keeps being reused (a console page's EventSource reconnects
      // every 3 s) would hold close() forever: requests in flight get a short grace, then every
      // connection is closed.
      const grace = setTimeout(() => server.closeAllConnections(), 2_000);
      await closing;
      clearTimeout(grace);
      server.closeAllConnections();
      await core.close();
    },
  };
}
