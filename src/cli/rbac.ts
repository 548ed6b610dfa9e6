import { readFileSync } from "node:fs";
import { DEFAULT_NAMESPACE, renderRbac } from "../deploy/rbac.ts";
import { loadPlaybooks } from "../plan/registry.ts";
import { configFrom, type CliIo } from "./io.ts";

export interface RbacCommandOptions {
  /** belay's namespace (its ServiceAccount's, and the Role's unless `cluster`); default `belay`. */
  namespace?: string;
  /** Grant namespaced permissions in every namespace (ClusterRole) instead of a Role in `namespace`. */
  cluster?: boolean;
  /** A committed file to compare with: exit 1 when it differs (CI's freshness check). */
  check?: string;
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `belay rbac [--namespace N] [--cluster] [--check FILE]`: the Role/ClusterRole and bindings
 * for belay's ServiceAccount covering exactly what the playbooks in BELAY_PLAYBOOKS_DIR
 * declare. Prints YAML; with `check`, says whether FILE is what would be printed.
 */
export async function rbacCommand(opts: RbacCommandOptions, io: CliIo): Promise<number> {
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  if (!NAMESPACE.test(namespace)) {
    io.err(`--namespace ${namespace}: not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)`);
    return 2;
  }
  const config = configFrom(io);
  const playbooks = [...(await loadPlaybooks(config.env.BELAY_PLAYBOOKS_DIR)).values()];
  let text: string;
  try {
    text = renderRbac(playbooks, { namespace, cluster: !!opts.cluster });
  } catch (err) {
    io.err(`${(err as Error).message}; fix the step's permissions and run belay rbac again`);
    return 1;
  }
  if (opts.check === undefined) {
    io.out(text.trimEnd());
    return 0;
  }
  let current: string;
  try {
    current = readFileSync(opts.check, "utf8");
  } catch (err) {
    io.err(`${opts.check}: cannot read it (${(err as NodeJS.ErrnoException).code}); write it with \`belay rbac${flagsOf(opts)} > ${opts.check}\``);
    return 1;
  }
  if (current === text) {
    io.out(`${opts.check} is up to date with the playbooks`);
    return 0;
  }
  io.err(`${opts.check} is out of date with the playbooks' permissions; run \`belay rbac${flagsOf(opts)} > ${opts.check}\` and commit the result`);
  return 1;
}

function flagsOf(opts: RbacCommandOptions): string {
  return `${opts.namespace ? ` --namespace ${opts.namespace}` : ""}${opts.cluster ? " --cluster" : ""}`;
}
