import { createServer, type Server } from "node:http";
import { BelayError } from "../errors.ts";
import type { SimulatedFault, Simulation } from "../sdk/drill.ts";
import type { Change, KubeContainerStatus, KubeDeployment, KubePod, KubeTarget, Targets } from "../targets/types.ts";

/** The Kubernetes target name rehearsal alerts point playbooks at (`cluster="drill-rehearsal"`). */
export const REHEARSAL_KUBE = "drill-rehearsal";

const MI = 2 ** 20;

interface SimDeployment {
  namespace: string;
  name: string;
  limit: string;
  revision: number;
  restarts: number;
  fault: SimulatedFault | null;
}

const parseMi = (q: string): number => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new BelayError("input.invalid", `simulated limit ${q}: use Mi or Gi`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
};

/**
 * The simulated world of one rehearsal: Deployments with faults, a Kubernetes target over them
 * whose every mutation is recorded as SIMULATED, and a loopback HTTP stub standing in for the
 * service (slow or failing while a fault is on), so probes measure something real.
 */
export class RehearsalWorld implements Simulation {
  private readonly deployments = new Map<string, SimDeployment>();
  private readonly log: string[] = [];
  private stub: Server | null = null;

  get effects(): readonly string[] {
    return this.log;
  }

  note(effect: string): void {
    this.log.push(effect.startsWith("SIMULATED") ? effect : `SIMULATED: ${effect}`);
  }

  private dep(namespace: string, name: string): SimDeployment {
    const key = `${namespace}/${name}`;
    let d = this.deployments.get(key);
    if (!d) {
      d = { namespace, name, limit: "512Mi", revision: 3, restarts: 0, fault: null };
      this.deployments.set(key, d);
    }
    return d;
  }

  private byKey(key: string): SimDeployment {
    const [ns, name] = key.includes("/") ? key.split("/", 2) : ["default", key];
    return this.dep(ns!, name!);
  }

  fault(deployment: string, fault: SimulatedFault | null): void {
    const d = this.byKey(deployment);
    d.fault = fault;
    if (fault?.kind === "oom-killed" && fault.limit) d.limit = fault.limit;
    this.note(fault ? `fault ${fault.kind} on ${deployment}` : `fault on ${deployment} cleared`);
  }

  faultOf(deployment: string): SimulatedFault | null {
    return this.byKey(deployment).fault;
  }

  restarts(deployment: string): number {
    return this.byKey(deployment).restarts;
  }

  /** True while any simulated Deployment has a fault: the stub answers slowly or with errors. */
  private degraded(): SimulatedFault | null {
    for (const d of this.deployments.values()) if (d.fault) return d.fault;
    return null;
  }

  /** A loopback HTTP endpoint for probes: 200 when healthy, slow (hung) or 503 (other faults) while degraded. */
  async serveStub(): Promise<string> {
    if (!this.stub) {
      let served = 0;
      this.stub = createServer((_req, res) => {
        const f = this.degraded();
        const n = ++served;
        const delay = f?.kind === "hung" ? 400 : f?.kind === "degraded" ? f.latencyMs : 2;
        // A degraded service fails a steady share of requests: every k-th, deterministically.
        const failEvery = f?.kind === "degraded" && f.errorRate > 0 ? Math.max(1, Math.round(1 / f.errorRate)) : 0;
        setTimeout(() => {
          const failing = f !== null && f.kind !== "hung" && (f.kind !== "degraded" || (failEvery > 0 && n % failEvery === 0));
          res.writeHead(failing ? 503 : 200, { "content-type": "text/plain" });
          res.end(failing ? `SIMULATED ${f!.kind}` : "ok");
        }, delay);
      });
      await new Promise<void>((r) => this.stub!.listen(0, "127.0.0.1", r));
    }
    const addr = this.stub.address() as { port: number };
    return `http://127.0.0.1:${addr.port}/`;
  }

  async close(): Promise<void> {
    const s = this.stub;
    this.stub = null;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  private pods(d: SimDeployment): KubePod[] {
    const f = d.fault;
    return [0, 1].map((i) => {
      const container: KubeContainerStatus = {
        name: d.name,
        ready: f === null || f.kind === "hung" || f.kind === "degraded",
        restarts: d.restarts + (f?.kind === "oom-killed" || f?.kind === "crashing" ? 4 : 0),
        state: f?.kind === "crashing" ? "waiting" : "running",
        reason: f?.kind === "crashing" ? "CrashLoopBackOff" : null,
        message: null,
        lastTermination:
          f?.kind === "oom-killed"
            ? { reason: "OOMKilled", exitCode: 137, finishedAt: new Date().toISOString() }
            : f?.kind === "crashing"
              ? { reason: "Error", exitCode: 1, finishedAt: new Date().toISOString() }
              : null,
        image: `registry.example/${d.name}:rehearsal`,
      };
      return {
        namespace: d.namespace,
        name: `${d.name}-5d9c7b6f4d-${"abcde".slice(i, i + 1)}x${d.restarts}k9`,
        phase: "Running",
        ready: container.ready,
        node: `rehearsal-node-${i}`,
        restarts: container.restarts,
        reason: container.reason ?? container.lastTermination?.reason ?? null,
        createdAt: new Date().toISOString(),
        ownerKind: "ReplicaSet",
        ownerName: `${d.name}-5d9c7b6f4d`,
        containers: [container],
        labels: { app: d.name, "belay.drill": "rehearsal" },
      };
    });
  }

  private deployment(d: SimDeployment): KubeDeployment {
    const ready = d.fault && d.fault.kind !== "hung" && d.fault.kind !== "degraded" ? 0 : 2;
    return {
      namespace: d.namespace,
      name: d.name,
      generation: d.revision,
      observedGeneration: d.revision,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: 2 - ready,
      paused: false,
      revision: d.revision,
      selector: { app: d.name },
      nodeSelector: {},
      containers: [
        {
          name: d.name,
          image: `registry.example/${d.name}:rehearsal`,
          memoryRequest: "256Mi",
          memoryLimit: d.limit,
          memoryLimitBytes: parseMi(d.limit) * MI,
          memoryRequestBytes: 256 * MI,
          cpuRequest: "100m",
          cpuLimit: null,
        },
      ],
      conditions: [{ type: "Available", status: ready > 0 ? "True" : "False", reason: ready > 0 ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable", message: null }],
    };
  }

  private change(summary: string, dryRun: boolean): Change {
    const text = `SIMULATED (drill rehearsal): ${summary}`;
    if (!dryRun) this.note(summary);
    return { summary: text, dryRun };
  }

  /** A KubeTarget over this world. Mutations change only the simulation. */
  kubeTarget(): KubeTarget {
    const unsupported = (op: string) => async (): Promise<never> => {
      throw new BelayError("input.invalid", `${op} is not simulated in a drill rehearsal`);
    };
    const sel = (selector: string) => /app=([^,]+)/.exec(selector)?.[1] ?? selector;
    return {
      name: REHEARSAL_KUBE,
      listPods: async (ns, selector) => this.pods(this.dep(ns, sel(selector))),
      events: async (ns, name) => {
        const d = [...this.deployments.values()].find((x) => x.namespace === ns && name.startsWith(x.name));
        return d?.fault ? [{ type: "Warning", reason: d.fault.kind === "oom-killed" ? "OOMKilling" : "BackOff", message: `SIMULATED ${d.fault.kind}`, count: 4, lastSeen: new Date().toISOString(), object: `Pod/${name}` }] : [];
      },
      logs: async (ns, pod) => {
        const d = [...this.deployments.values()].find((x) => x.namespace === ns && pod.startsWith(x.name));
        const f = d?.fault;
        return f && "logs" in f && f.logs ? f.logs : `SIMULATED log of ${pod}: ${f ? f.kind : "healthy"}`;
      },
      getDeployment: async (ns, name) => this.deployment(this.dep(ns, name)),
      revisions: async (ns, name) => {
        const d = this.dep(ns, name);
        return [d.revision, d.revision - 1].map((r) => ({ revision: r, replicaSet: `${name}-rs${r}`, createdAt: null, replicas: r === d.revision ? 2 : 0, images: [`registry.example/${name}:rehearsal`], changeCause: null }));
      },
      rolloutStatus: async (ns, name) => {
        const d = this.dep(ns, name);
        const done = !d.fault || d.fault.kind === "hung";
        return { done, failed: false, message: done ? `deployment "${name}" successfully rolled out (SIMULATED)` : `Waiting for deployment "${name}" rollout to finish (SIMULATED)` };
      },
      waitForRollout: async (ns, name) => {
        const d = this.dep(ns, name);
        const done = !d.fault || d.fault.kind === "hung";
        return { done, failed: !done, message: done ? `deployment "${name}" successfully rolled out (SIMULATED)` : `SIMULATED: pods still ${d.fault!.kind}` };
      },
      rolloutRestart: async (ns, name, opts) => {
        const d = this.dep(ns, name);
        if (!opts?.dryRun) {
          d.restarts += 1;
          d.revision += 1;
          // A restart clears what a restart clears: a hang or a crash loop. Not OOM, not a partition.
          if (d.fault && (d.fault.kind === "hung" || d.fault.kind === "crashing")) d.fault = null;
        }
        return this.change(`rollout restart deployment ${ns}/${name}`, opts?.dryRun ?? false);
      },
      rolloutUndo: unsupported("rolloutUndo") as KubeTarget["rolloutUndo"],
      scale: async (ns, name, replicas, opts) => this.change(`scale ${ns}/${name} to ${replicas}`, opts?.dryRun ?? false),
      getConfigMap: async () => ({}),
      setConfigMapKey: unsupported("setConfigMapKey") as KubeTarget["setConfigMapKey"],
      setMemoryLimit: async (ns, name, container, limit, opts) => {
        const d = this.dep(ns, name);
        const before = d.limit;
        if (!opts?.dryRun) {
          d.limit = limit;
          d.revision += 1;
          if (d.fault?.kind === "oom-killed" && parseMi(limit) > parseMi(before)) d.fault = null;
        }
        return { ...this.change(`memory limit of ${ns}/${name}/${container}: ${before} -> ${limit}`, opts?.dryRun ?? false), diff: `spec.template.spec.containers[${container}].resources.limits.memory: ${before} -> ${limit}` };
      },
      podMemoryUsage: async (ns, selector) => {
        const d = this.dep(ns, sel(selector));
        const used = Math.round(parseMi(d.limit) * (d.fault?.kind === "oom-killed" ? 0.98 : 0.5)) * MI;
        return Object.fromEntries(this.pods(d).map((p) => [`${p.name}/${d.name}`, used]));
      },
      getNode: unsupported("getNode") as KubeTarget["getNode"],
      listNodes: async () => [],
      labelNode: unsupported("labelNode") as KubeTarget["labelNode"],
      cordon: unsupported("cordon") as KubeTarget["cordon"],
      uncordon: unsupported("uncordon") as KubeTarget["uncordon"],
      drain: unsupported("drain") as KubeTarget["drain"],
      drainPlan: unsupported("drainPlan") as KubeTarget["drainPlan"],
      endpoints: async (ns, service) => {
        const d = this.dep(ns, service);
        const addrs = this.pods(d).map((_, i) => `10.0.0.${10 + i}:8080`);
        return d.fault && d.fault.kind !== "hung" ? { ready: [], notReady: addrs } : { ready: addrs, notReady: [] };
      },
    };
  }
}

/** The real targets, plus the rehearsal's simulated Kubernetes target under its own name. Nothing else changes. */
export function withRehearsal(real: Targets, world: RehearsalWorld): Targets {
  const kube = world.kubeTarget();
  return {
    redis: (name) => real.redis(name),
    postgres: (name) => real.postgres(name),
    kube: (name) => (name === REHEARSAL_KUBE ? kube : real.kube(name)),
    prometheus: (name) => real.prometheus(name),
  };
}
