import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { parseFileConfig } from "../../src/config.ts";

/**
 * deploy/ cannot be applied here (no API server), so its shape and consistency are checked
 * by parsing: the ports, probe paths, env names, ServiceAccount and timings the manifests
 * name must be the ones belay actually has.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DEPLOY = join(ROOT, "deploy");

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

function docsOf(file: string): Obj[] {
  return parseAllDocuments(readFileSync(join(DEPLOY, file), "utf8")).map((d) => {
    expect(d.errors, file).toEqual([]);
    return d.toJS() as Obj;
  });
}

const kustomization = docsOf("kustomization.yaml")[0] as unknown as { resources: string[] };
const objects = kustomization.resources.flatMap((f) => docsOf(f));
const one = (kind: string, name?: string) => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0]!;
};
const deployment = one("Deployment");
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const envMap = one("ConfigMap", "belay-env").data as Record<string, string>;
const secretTemplate = docsOf("secret.example.yaml")[0]!;

/** Every variable src/config.ts reads (its env schema's keys). */
const configText = readFileSync(join(ROOT, "src/config.ts"), "utf8");
const envSchemaText = configText.slice(configText.indexOf("const envSchema"), configText.indexOf("});", configText.indexOf("const envSchema")));
const CONFIG_VARS = new Set([...envSchemaText.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!));
// The console's variables arrive with the console (issue 12); until src/config.ts has them they are allowed by name.
const CONSOLE_VARS = ["BELAY_PUBLIC_URL", "BELAY_OIDC_ISSUER", "BELAY_OIDC_CLIENT_ID", "BELAY_OIDC_CLIENT_SECRET", "BELAY_CONSOLE_SESSION_KEY"];
const KNOWN_VARS = new Set([...CONFIG_VARS, ...(CONFIG_VARS.has("BELAY_OIDC_ISSUER") ? [] : CONSOLE_VARS)]);

describe("deploy/ manifests", () => {
  it("the kustomization lists every manifest but the Secret template, which names a Secret the Deployment reads", () => {
    const yamls = readdirSync(DEPLOY).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
    expect([...kustomization.resources].sort()).toEqual(yamls.filter((f) => f !== "secret.example.yaml").sort());
    expect(objects.some((o) => o.kind === "Secret")).toBe(false);
    expect(secretTemplate.kind).toBe("Secret");
    expect(container.envFrom).toEqual([{ configMapRef: { name: "belay-env" } }, { secretRef: { name: secretTemplate.metadata.name } }]);
  });

  it("everything lives in the Namespace, and the ServiceAccount is the one rbac.yaml binds", () => {
    const ns = one("Namespace").metadata.name;
    for (const o of [...objects, secretTemplate]) {
      if (["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(o.kind)) continue;
      expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(ns);
    }
    const sa = one("ServiceAccount");
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    const bindings = objects.filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding");
    expect(bindings.length).toBeGreaterThan(0);
    for (const b of bindings) expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: sa.metadata.name, namespace: ns }]);
    expect(pod.automountServiceAccountToken).toBe(true);
  });

  it("two replicas, spread, kept one at a time by a PodDisruptionBudget; selectors match the pod labels", () => {
    expect(deployment.spec.replicas).toBe(2);
    const labels = deployment.spec.template.metadata.labels;
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(matches(deployment.spec.selector.matchLabels)).toBe(true);
    expect(pod.topologySpreadConstraints.length).toBeGreaterThan(0);
    for (const t of pod.topologySpreadConstraints) expect(matches(t.labelSelector.matchLabels)).toBe(true);
    const pdb = one("PodDisruptionBudget");
    expect(pdb.spec.minAvailable).toBe(1);
    expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
    expect(matches(one("Service").spec.selector)).toBe(true);
  });

  it("ports agree: PORT, the container port, the probes and the Service", () => {
    const http = container.ports.find((p: { name: string }) => p.name === "http");
    expect(http.containerPort).toBe(Number(envMap.PORT));
    expect(one("Service").spec.ports[0].targetPort).toBe("http");
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) expect(probe.httpGet.port).toBe("http");
  });

  it("readiness is /readyz and liveness /healthz, both routes belay serves", () => {
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    const http = readFileSync(join(ROOT, "src/server/http.ts"), "utf8");
    for (const path of ["/readyz", "/healthz", container.startupProbe.httpGet.path]) expect(http).toContain(`path: "${path}"`);
  });

  it("the grace period outlasts the preStop pause plus the drain timeout", () => {
    const preStop = container.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe("sleep");
    const pause = Number(preStop[1]);
    const drain = Number(envMap.BELAY_DRAIN_TIMEOUT_SECONDS);
    expect(pause).toBeGreaterThan(0);
    expect(drain).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(pause + drain);
  });

  it("runs as non-root on a read-only root filesystem, with writable /tmp for tsx's cache", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    const mounts = container.volumeMounts as { name: string; mountPath: string }[];
    const tmp = mounts.find((m) => m.mountPath === "/tmp")!;
    expect(pod.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir).toBeDefined();
  });

  it("asks for more memory than bench:memory measured on Postgres after a storm, and says where the figure comes from", () => {
    const text = readFileSync(join(DEPLOY, "deployment.yaml"), "utf8");
    const measured = /(\d+) MB after a\s+#?\s*[\d,]+-alert storm/.exec(text);
    expect(measured, "deployment.yaml cites bench:memory's figure after the storm").not.toBeNull();
    expect(text).toContain("npm run bench:memory");
    const mi = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1]);
    const afterStormMi = (Number(measured![1]) * 1e6) / 2 ** 20;
    expect(mi(container.resources.requests.memory)).toBeGreaterThanOrEqual(afterStormMi * 1.2);
    expect(mi(container.resources.limits.memory)).toBeGreaterThanOrEqual(mi(container.resources.requests.memory));
  });

  it("names only variables belay reads, and the Secret template names every secret one", () => {
    const secretVars = Object.keys(secretTemplate.stringData);
    for (const v of [...Object.keys(envMap), ...secretVars]) expect(KNOWN_VARS, v).toContain(v);
    expect(secretVars).toEqual(
      expect.arrayContaining([
        "DATABASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "PAGERDUTY_TOKEN",
        "PAGERDUTY_WEBHOOK_SECRET",
        "ALERTMANAGER_TOKEN",
        "BELAY_SECRET_KEY",
        "BELAY_AUDIT_HMAC_KEY",
        ...CONSOLE_VARS,
      ]),
    );
    // Nothing secret in the ConfigMap, nothing in both.
    expect(Object.keys(envMap).filter((k) => secretVars.includes(k) || /TOKEN|SECRET|KEY|PASSWORD|DATABASE_URL/.test(k))).toEqual([]);
  });

  it("BELAY_CONFIG points at the mounted belay.yaml, and that file is a valid belay config", () => {
    const file = one("ConfigMap", "belay-config");
    const mount = (container.volumeMounts as { name: string; mountPath: string }[]).find((m) => pod.volumes.find((v: any) => v.name === m.name)?.configMap?.name === "belay-config")!;
    const key = envMap.BELAY_CONFIG!.slice(mount.mountPath.length + 1);
    expect(envMap.BELAY_CONFIG!.startsWith(`${mount.mountPath}/`)).toBe(true);
    expect(Object.keys(file.data)).toEqual([key]);
    const parsed = parseFileConfig(file.data[key], "deploy/configmap.yaml");
    expect(parsed.targets.kube).toHaveProperty("cluster");
  });

  it("runs `belay serve` through the image's entrypoint", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/belay\.mjs"\]$/m);
    expect(container.args).toEqual(["serve"]);
    expect(container.command).toBeUndefined();
  });
});
