import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { loadConfig, type Config } from "../../src/config.ts";
import type { ConsoleCore } from "../../src/console/app.ts";
import type { ConsoleAuth, ConsoleSession } from "../../src/console/auth/types.ts";
import { createConsoleIntegration } from "../../src/console/integration.ts";
import type { Engine } from "../../src/execute/engine.ts";
import { silentLogger } from "../../src/execute/deps.ts";
import { People } from "../../src/identity/people.ts";
import { principalFromOidc, type Principal } from "../../src/identity/principal.ts";
import { insertIncident, upsertAlerts, upsertKeys } from "../../src/incidents/queries.ts";
import { alertSchema } from "../../src/sdk/alert.ts";
import { createHttpServer, listen } from "../../src/server/http.ts";
import { Metrics } from "../../src/server/metrics.ts";
import type { Db } from "../../src/store/driver.ts";
import { noTargets } from "./engine.ts";

/** An incident with one firing and one resolved alert, about target redis/cache, as ingestion would have stored it. */
export async function seedIncident(db: Db, id: string, opts: { title?: string; secretLabel?: string; expr?: string } = {}): Promise<void> {
  const now = new Date();
  await insertIncident(db, {
    id, title: opts.title ?? "Redis at maxmemory", service: "cache", status: "open", drill: false, source: "alertmanager", severity: "critical",
    failureMode: "redis-maxmemory", pagerdutyIncidentId: null, pagerdutyStatus: null, alertCount: 2, openedCount: 1, lastAlertAt: now,
    slackChannel: null, slackTs: null, slackPermalink: null, createdAt: new Date(now.getTime() - 5 * 60_000), updatedAt: now, resolvedAt: null,
  });
  const alert = (fp: string, status: "firing" | "resolved") =>
    alertSchema.parse({
      source: "alertmanager", fingerprint: fp, status, title: `RedisOutOfConfiguredMaxmemory ${fp}`, service: "cache", severity: "critical",
      labels: { alertname: "RedisOutOfConfiguredMaxmemory", instance: "cache-exporter:9121", ...(opts.secretLabel ? { dsn: opts.secretLabel } : {}) },
      startsAt: "2026-12-03T08:00:00.000Z", expr: opts.expr ?? null,
    });
  await upsertAlerts(db, [
    { source: "alertmanager", fingerprint: `${id}-a1`, incidentId: id, status: "firing", alert: alert(`${id}-a1`, "firing"), received: 1, firstSeenAt: now, lastSeenAt: now, resolvedAt: null },
    { source: "alertmanager", fingerprint: `${id}-a2`, incidentId: id, status: "resolved", alert: alert(`${id}-a2`, "resolved"), received: 1, firstSeenAt: now, lastSeenAt: now, resolvedAt: now },
  ]);
  await upsertKeys(db, [{ key: "target:redis/cache", incidentId: id }]);
}

export const TEST_ISSUER = "https://idp.example.test";

/** A person as the console's OIDC sign-in establishes them: mapped by subject `sub-<id>`, surface console, auth oidc. */
export function oidcPerson(id: string): Principal {
  return principalFromOidc(new People({ [id]: { oidc: `sub-${id}` } }), { issuer: TEST_ISSUER, subject: `sub-${id}` })!;
}

/** The console's seam, faked: a fixed session (or none), and a CSRF check that compares the token. */
type FakeSession = { principal: Principal; csrf?: string; expiresAt?: number };

export function fakeAuth(session: FakeSession | null): ConsoleAuth & { setSession(s: FakeSession | null): void } {
  let current: ConsoleSession | undefined;
  const set = (s: FakeSession | null) => {
    current = s ? { principal: s.principal, displayName: s.principal.person, csrf: s.csrf ?? `csrf-${s.principal.person}`, expiresAt: s.expiresAt ?? Date.now() + 3_600_000 } : undefined;
  };
  set(session);
  return {
    enabled: true,
    mount: () => {},
    session: async () => current,
    checkStateChange: (_c, s, token) => (!s.principal ? "you are not in people:" : token === s.csrf ? null : "the form's CSRF token is missing or wrong"),
    loginUrl: (returnTo) => `/console/auth/login?returnTo=${encodeURIComponent(returnTo)}`,
    setSession: set,
  };
}

export function consoleCore(db: Db, engine: Engine, config: Config = loadConfig({ BELAY_LOG_LEVEL: "silent" })): ConsoleCore {
  return { db, engine, targets: noTargets, config: { ...config, approval: engine.deps.policy }, logger: silentLogger };
}

/** The console's integration on a real HTTP server (belay serve's router), on a free port of `host`. */
export async function serveConsole(core: ConsoleCore, opts: { auth?: ConsoleAuth; host?: string; heartbeatMs?: number } = {}) {
  const integration = await createConsoleIntegration(core, { ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}) });
  await integration.start?.(); // as belay serve does: the audit follower for other replicas' events
  const server: Server = createHttpServer({ routes: integration.routes, metrics: new Metrics(), logger: silentLogger, ready: async () => ({ ok: true, detail: "test" }) });
  const addr: AddressInfo = await listen(server, 0, opts.host ?? "127.0.0.1");
  const host = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
  return {
    integration,
    server,
    url: `http://${host}:${addr.port}`,
    async close() {
      await integration.stop?.();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };
}
