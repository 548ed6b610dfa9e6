import { playbook, target, z } from "../src/sdk/index.ts";

/**
 * The connection pooler (PgBouncer, pgcat, RDS Proxy) is unreachable while Postgres itself is
 * fine. Point the app's ConfigMap DB host key at the direct endpoint, rolling-restart the
 * listed Deployments so they read it, and verify every rollout. The rollback switches back
 * and restarts again. Run it with `to: pooler` to return once the pooler is healthy.
 */
export default playbook({
  id: "db-pooler-failover",
  title: "Database pooler unreachable: switch the app to the direct endpoint",
  summary: "Checks the pooler and direct Services' endpoints and the app's ConfigMap, switches its DB host key between the pooler and direct endpoints, rolling-restarts the listed Deployments and waits for every rollout; rollback switches back.",
  failureModes: ["db-pooler-unreachable", "postgres-low-connections"],
  symptoms: [
    "Apps fail with 'connection refused' or timeouts to the pooler host while psql to the primary works",
    "PgBouncer pods down or its Service without endpoints",
    "Far fewer client connections on Postgres than normal",
  ],
  match: [
    { alertname: /^(PgBouncerDown|PgbouncerDown|PgBouncerNoEndpoints|PgcatDown|PostgresqlLowConnections)$/ },
    { text: /pg ?bouncer|pooler|pgcat|rds proxy/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    configMap: z.string().min(1),
    /** The ConfigMap key holding the database host, e.g. DB_HOST or DATABASE_HOST. */
    key: z.string().default("DB_HOST"),
    poolerHost: z.string().min(1),
    directHost: z.string().min(1),
    /** The Deployments that read the key at start. */
    deployments: z.array(z.string().min(1)).min(1),
    to: z.enum(["direct", "pooler"]).default("direct"),
    /** Services to look at for endpoints: `namespace/name`. */
    poolerService: z.string().optional(),
    directService: z.string().optional(),
  }),
  fromAlert: (a) => ({ ...(a.labels.namespace ? { namespace: a.labels.namespace } : {}) }),
})
  .diagnose("config", {
    description: "The app's DB host key now.",
    permissions: ["core/configmaps:get"],
    manual: ["kubectl -n {namespace} get configmap {configMap} -o jsonpath='{.data.{key}}'"],
    run: async ({ params, targets }) => {
      const data = await targets.kube(params.kube).getConfigMap(params.namespace, params.configMap);
      const current = data[params.key] ?? null;
      const want = params.to === "direct" ? params.directHost : params.poolerHost;
      return { current, want, needsSwitch: current !== want };
    },
  })
  .diagnose("endpoints", {
    description: "Ready endpoints of the pooler and direct Services: the pooler should have none, the direct one some.",
    permissions: ["core/endpoints:get"],
    manual: ["kubectl get endpoints -A | grep -Ei 'bouncer|pooler|postgres'"],
    run: async ({ params, targets }) => {
      const look = async (svc: string | undefined) => {
        if (!svc) return null;
        const [ns, name] = svc.includes("/") ? svc.split("/", 2) : [params.namespace, svc];
        try {
          return await targets.kube(params.kube).endpoints(ns!, name!);
        } catch (err) {
          return { ready: [], notReady: [], error: (err as Error).message.slice(0, 160) };
        }
      };
      return { pooler: await look(params.poolerService), direct: await look(params.directService) };
    },
  })
  .act("switch-host", {
    description: "Set the DB host key to the chosen endpoint.",
    risk: "high",
    permissions: ["core/configmaps:get", "core/configmaps:patch"],
    when: { if: ({ outputs }) => outputs.config.needsSwitch, reason: ({ outputs }) => `the app's DB host is already ${outputs.config.want}` },
    locks: ({ params }) => [`kube:${params.kube}/configmaps/${params.namespace}/${params.configMap}`],
    manual: ["kubectl -n {namespace} patch configmap {configMap} --type merge -p '{\"data\":{\"{key}\":\"<host>\"}}'"],
    preview: async ({ params, outputs, targets }) => {
      const c = await targets.kube(params.kube).setConfigMapKey(params.namespace, params.configMap, params.key, outputs.config.want, { dryRun: true });
      return { summary: c.summary, diff: c.diff };
    },
    run: async ({ params, outputs, targets }) => {
      await targets.kube(params.kube).setConfigMapKey(params.namespace, params.configMap, params.key, outputs.config.want);
      return { previous: outputs.config.current, now: outputs.config.want };
    },
    verify: async ({ params, targets, result }) => {
      const v = (await targets.kube(params.kube).getConfigMap(params.namespace, params.configMap))[params.key];
      return { ok: v === result.now, detail: `${params.key}=${v}` };
    },
    rollback: ({ params, targets, result }) =>
      result.previous === null ? undefined : targets.kube(params.kube).setConfigMapKey(params.namespace, params.configMap, params.key, result.previous),
  })
  .act("restart-apps", {
    description: "Rolling-restart every listed Deployment so it reads the new host; verify every rollout.",
    risk: "high",
    permissions: ["apps/deployments:get", "apps/deployments:patch", "core/configmaps:get", "core/configmaps:patch"],
    when: { if: ({ outputs }) => outputs.config.needsSwitch, reason: ({ outputs }) => `the app's DB host is already ${outputs.config.want}` },
    locks: ({ params }) => params.deployments.map((d) => `kube:${params.kube}/deployments/${params.namespace}/${d}`),
    manual: ["kubectl -n {namespace} rollout restart deployment/<each deployment>", "kubectl -n {namespace} rollout status deployment/<each deployment> --timeout=5m"],
    timeoutMs: 60_000,
    preview: async ({ params, targets }) => {
      const kube = targets.kube(params.kube);
      const lines: string[] = [];
      for (const d of params.deployments) {
        const c = await kube.rolloutRestart(params.namespace, d, { dryRun: true });
        lines.push(c.summary, c.diff ?? "");
      }
      return { summary: `rollout restart ${params.deployments.length} deployments in ${params.namespace}`, diff: lines.filter(Boolean).join("\n") };
    },
    run: async ({ params, targets }) => {
      for (const d of params.deployments) await targets.kube(params.kube).rolloutRestart(params.namespace, d);
      return { restarted: params.deployments };
    },
    verifyTimeoutMs: 330_000,
    verify: async ({ params, targets, signal }) => {
      const kube = targets.kube(params.kube);
      const results = await Promise.all(params.deployments.map((d) => kube.waitForRollout(params.namespace, d, { timeoutMs: 300_000, signal })));
      const bad = results.filter((s) => !s.done);
      return { ok: bad.length === 0, detail: results.map((s) => s.message).join("; ") };
    },
    // Switch back and restart again, so the apps return to the endpoint they used before.
    rollback: async ({ params, outputs, targets }) => {
      const kube = targets.kube(params.kube);
      if (outputs.config.current !== null) await kube.setConfigMapKey(params.namespace, params.configMap, params.key, outputs.config.current);
      for (const d of params.deployments) await kube.rolloutRestart(params.namespace, d);
    },
  })
  .notify("summary", {
    message: ({ params, outputs }) =>
      outputs.config.needsSwitch
        ? `Switched ${params.configMap}.${params.key} ${outputs.config.current} -> ${outputs.config.want} and restarted ${params.deployments.join(", ")}. Switch back with to=${params.to === "direct" ? "pooler" : "direct"} once the pooler is healthy; watch max_connections meanwhile.`
        : `${params.configMap}.${params.key} already points at ${outputs.config.want}; nothing changed.`,
  });
