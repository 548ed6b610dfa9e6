/**
 * A runnable entry for `belay rbac` until the CLI registers it (src/cli/main.ts):
 * `node --import tsx src/deploy/rbac-main.ts [--namespace N] [--cluster] [--check FILE]`.
 */
import { parseArgs } from "node:util";
import { rbacCommand } from "../cli/rbac.ts";
import { processIo } from "../cli/io.ts";

const { values } = parseArgs({ options: { namespace: { type: "string" }, cluster: { type: "boolean" }, check: { type: "string" } } });
process.exitCode = await rbacCommand({ ...(values.namespace ? { namespace: values.namespace } : {}), cluster: !!values.cluster, ...(values.check ? { check: values.check } : {}) }, processIo());
