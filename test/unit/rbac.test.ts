import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { rbacCommand } from "../../src/cli/rbac.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { neededPermissions, rbacObjects, renderRbac, type RbacRule } from "../../src/deploy/rbac.ts";
import { loadPlaybooks } from "../../src/plan/registry.ts";
import type { AnyPlaybook } from "../../src/sdk/playbook.ts";
import { operations } from "../../src/targets/operations.ts";
import { formatKubePermission, isKubePermission, kubeAccess, KUBE_METHODS, parseKubePermission, type KubeMethod } from "../../src/targets/kube-access.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PLAYBOOKS_DIR = join(ROOT, "playbooks");
let playbooks: AnyPlaybook[];

beforeAll(async () => {
  playbooks = [...(await loadPlaybooks(PLAYBOOKS_DIR)).values()];
});

/** The kube target methods a piece of step code calls (`targets.kube(..).rolloutUndo(`, `k.drain(`). */
function kubeCallsIn(source: string): Set<KubeMethod> {
  const found = new Set<KubeMethod>();
  for (const m of KUBE_METHODS) if (new RegExp(`\\.${m}\\s*\\(`).test(source)) found.add(m);
  return found;
}

function stepSource(step: AnyPlaybook["steps"][number]): string {
  return [step.run, step.preview, step.verify, step.rollback, step.until].filter((f) => f !== null).map((f) => String(f)).join("\n");
}

describe("every step declares exactly the Kubernetes permissions its code can use", () => {
  it("covers every kube API call a step's code path can make, and declares nothing it never uses", () => {
    const problems: string[] = [];
    for (const pb of playbooks) {
      for (const step of pb.steps) {
        const needed = new Set([...kubeCallsIn(stepSource(step))].flatMap((m) => kubeAccess[m].permissions));
        const declared = new Set(step.permissions.filter(isKubePermission));
        for (const p of needed) if (!declared.has(p)) problems.push(`${pb.id}/${step.name} calls the API for ${p} but does not declare it`);
        for (const p of declared) if (!needed.has(p)) problems.push(`${pb.id}/${step.name} declares ${p}, which none of its code needs`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("finds every kube call of a playbook file inside its steps (none hides in a helper the scan cannot see)", () => {
    const problems: string[] = [];
    for (const file of readdirSync(PLAYBOOKS_DIR).filter((f) => f.endsWith(".ts"))) {
      const text = readFileSync(join(PLAYBOOKS_DIR, file), "utf8");
      const pb = playbooks.find((p) => p.id === file.replace(/\.ts$/, ""));
      expect(pb, file).toBeDefined();
      const inSteps = new Set(pb!.steps.flatMap((s) => [...kubeCallsIn(stepSource(s))]));
      for (const m of kubeCallsIn(text)) if (!inSteps.has(m)) problems.push(`${file} calls kube ${m} outside a step's own functions`);
    }
    expect(problems).toEqual([]);
  });

  it("the operations table (docs) names, for each kube method, one of the permissions kube-access.ts grants it", () => {
    for (const op of operations.kube) expect(kubeAccess[op.name as KubeMethod].permissions, op.name).toContain(op.permission);
  });

  it("the scan sees calls through a variable and a shared step helper", () => {
    expect([...kubeCallsIn("async ({ params, targets }) => { const k = targets.kube(params.kube); return k.drain(params.node, {}) }")]).toEqual(["drain"]);
    const undo = playbooks.find((p) => p.id === "rollout-stuck-undo")!.steps.find((s) => s.kind === "act")!;
    expect(kubeCallsIn(stepSource(undo))).toEqual(new Set(["rolloutUndo", "waitForRollout"]));
  });
});

function granted(rules: RbacRule[]): string[] {
  return rules.flatMap((r) => r.verbs.map((v) => formatKubePermission({ apiGroup: r.apiGroups[0], resource: r.resources[0], verb: v })));
}

describe("belay rbac", () => {
  for (const cluster of [false, true]) {
    it(`${cluster ? "--cluster" : "a Role in the namespace"}: a rule for every declared permission and no rule without one`, () => {
      const objects = rbacObjects(playbooks, { namespace: "ops", cluster });
      const declared = new Set(playbooks.flatMap((pb) => pb.steps.flatMap((s) => s.permissions.filter(isKubePermission))));
      const roles = objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole") as unknown as { kind: string; metadata: { name: string; namespace?: string }; rules: RbacRule[] }[];
      const all = roles.flatMap((r) => granted(r.rules));
      expect(new Set(all)).toEqual(declared);
      expect(JSON.stringify(objects)).not.toContain("*");
      for (const r of roles) {
        // Sorted, one rule per apiGroup/resource, verbs sorted and unique.
        const keys = r.rules.map((x) => `${x.apiGroups[0]}/${x.resources[0]}`);
        expect(keys).toEqual([...new Set(keys)].sort());
        for (const x of r.rules) expect(x.verbs).toEqual([...new Set(x.verbs)].sort());
      }
      if (cluster) expect(roles.map((r) => r.kind)).toEqual(["ClusterRole"]);
      else {
        expect(roles.map((r) => r.kind)).toEqual(["Role", "ClusterRole"]);
        // Nodes have no namespace; a drain reaches pods in every namespace.
        expect(granted(roles[1]!.rules)).toEqual(expect.arrayContaining(["core/nodes:patch", "core/pods/eviction:create", "core/pods:list"]));
        expect(granted(roles[0]!.rules)).not.toContain("core/nodes:patch");
        expect(roles[0]!.metadata.namespace).toBe("ops");
      }
      for (const b of objects.filter((o) => String(o.kind).endsWith("Binding")) as unknown as { roleRef: { kind: string; name: string }; subjects: unknown[] }[]) {
        expect(roles.some((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name)).toBe(true);
        expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: "belay", namespace: "ops" }]);
      }
    });
  }

  it("a drain in a playbook that takes a namespace is still granted cluster-wide (it lists and evicts pods on every namespace)", () => {
    // Before, kube-access.ts's allNamespaces was never read: the drain's pods:list and
    // pods/eviction:create went into the Role in belay's namespace, and the drain got 403.
    const drain = playbooks.find((p) => p.id === "node-cordon-drain")!;
    const withNs = { ...drain, id: "drain-in-ns", params: z.object({ namespace: z.string(), node: z.string() }) } as unknown as AnyPlaybook;
    const roles = rbacObjects([withNs], { namespace: "ops", cluster: false }) as unknown as { kind: string; rules: RbacRule[] }[];
    const cluster = roles.find((r) => r.kind === "ClusterRole")!;
    expect(granted(cluster.rules)).toEqual(expect.arrayContaining(["core/pods/eviction:create", "core/pods:list"]));
    const role = roles.find((r) => r.kind === "Role");
    expect(role ? granted(role.rules) : []).not.toContain("core/pods/eviction:create");
  });

  it("merges verbs of one resource from several steps into one rule", () => {
    const [role] = rbacObjects(playbooks, { namespace: "belay", cluster: true }) as unknown as { rules: RbacRule[] }[];
    const deployments = role!.rules.filter((r) => r.apiGroups[0] === "apps" && r.resources[0] === "deployments");
    expect(deployments).toHaveLength(1);
    expect(deployments[0]!.verbs).toEqual(["get", "patch"]);
  });

  it("refuses a permission no kube target method uses (it would only widen what the ServiceAccount's token can do)", () => {
    // Before, a playbook (from any BELAY_PLAYBOOKS_DIR) declaring core/secrets:list was granted it, cluster-wide.
    const fake = { ...playbooks[0]!, id: "greedy", steps: [{ ...playbooks[0]!.steps[0]!, name: "peek", permissions: ["core/secrets:list"] }] } as unknown as AnyPlaybook;
    expect(() => neededPermissions([fake])).toThrow(/playbook greedy, step peek: permission core\/secrets:list is used by no kube target method/);
  });

  it("refuses a wildcard or a malformed permission, naming the step", () => {
    const fake = { ...playbooks[0]!, id: "bad", steps: [{ ...playbooks[0]!.steps[0]!, name: "s", permissions: ["apps/*:patch"] }] } as unknown as AnyPlaybook;
    expect(() => neededPermissions([fake])).toThrow(/playbook bad, step s: permission "apps\/\*:patch" is not group\/resource:verb/);
    expect(() => parseKubePermission("apps/deployments:escalate")).toThrow(/verb escalate is not one of/);
  });

  describe("deploy/rbac.yaml", () => {
    const committed = join(ROOT, "deploy/rbac.yaml");
    let tmp: string;
    beforeAll(() => (tmp = mkdtempSync(join(tmpdir(), "belay-rbac-"))));
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));
    const io = (lines: string[]): CliIo =>
      ({ out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), env: { BELAY_PLAYBOOKS_DIR: PLAYBOOKS_DIR } }) as unknown as CliIo;

    it("is what belay rbac --namespace belay --cluster prints, and parses as Kubernetes objects", async () => {
      expect(readFileSync(committed, "utf8")).toBe(renderRbac(playbooks, { namespace: "belay", cluster: true }));
      const docs = parseAllDocuments(readFileSync(committed, "utf8")).map((d) => d.toJS() as { kind: string });
      expect(docs.map((d) => d.kind)).toEqual(["ClusterRole", "ClusterRoleBinding"]);
      const lines: string[] = [];
      expect(await rbacCommand({ namespace: "belay", cluster: true, check: committed }, io(lines))).toBe(0);
      expect(lines).toEqual([`${committed} is up to date with the playbooks`]);
    });

    it("--check with other flags than the file was made with says so, rather than telling to overwrite it", async () => {
      // Before, it said "run `belay rbac > deploy/rbac.yaml`": followed at 3 a.m., that swaps the
      // ClusterRole for a Role in belay's namespace, and every playbook acting elsewhere gets 403.
      const lines: string[] = [];
      expect(await rbacCommand({ check: committed }, io(lines))).toBe(1);
      expect(lines).toEqual([
        `${committed} was generated by \`belay rbac --namespace belay --cluster\`, not \`belay rbac --namespace belay\`: check it with the flags it was made with (or regenerate it on purpose)`,
      ]);
    });

    it("--check fails on a stale or missing file and says how to refresh it", async () => {
      const stale = join(tmp, "rbac.yaml");
      writeFileSync(stale, readFileSync(committed, "utf8").replace("      - patch\n", ""));
      const lines: string[] = [];
      expect(await rbacCommand({ namespace: "belay", cluster: true, check: stale }, io(lines))).toBe(1);
      expect(lines).toEqual([`${stale} is out of date with the playbooks' permissions; run \`belay rbac --namespace belay --cluster > ${stale}\` and commit the result`]);
      expect(await rbacCommand({ namespace: "belay", cluster: true, check: join(tmp, "none.yaml") }, io([]))).toBe(1);
      expect(await rbacCommand({ namespace: "Bad_NS" }, io(lines))).toBe(2);
    });
  });
});
