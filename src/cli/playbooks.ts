import { describeParams } from "../plan/bind.ts";
import { buildPlan, permissionsOf } from "../plan/plan.ts";
import { loadPlaybooks } from "../plan/registry.ts";
import { renderPlan } from "./render.ts";
import { configFrom, type CliIo } from "./io.ts";

/** `belay playbooks list [--json]`. */
export async function playbooksList(values: { json?: boolean }, io: CliIo): Promise<number> {
  const playbooks = await loadPlaybooks(configFrom(io).env.BELAY_PLAYBOOKS_DIR);
  {
    const list = [...playbooks.values()].sort((a, b) => a.id.localeCompare(b.id));
    if (values.json) {
      io.out(
        JSON.stringify(
          list.map((pb) => ({
            id: pb.id,
            title: pb.title,
            summary: pb.summary,
            failureModes: pb.failureModes,
            steps: pb.steps.map((s) => ({ name: s.name, kind: s.kind, risk: s.risk, permissions: s.permissions })),
            permissions: permissionsOf(pb),
          })),
          null,
          2,
        ),
      );
    } else {
      const width = Math.max(...list.map((p) => p.id.length), 10);
      for (const pb of list) io.out(`${pb.id.padEnd(width)}  ${pb.title}`);
      io.out(`\n${list.length} playbooks. \`belay playbooks show ID\` for one.`);
    }
    return 0;
  }
}

/** `belay playbooks show ID [--json]`. */
export async function playbooksShow(id: string, values: { json?: boolean }, io: CliIo): Promise<number> {
  const playbooks = await loadPlaybooks(configFrom(io).env.BELAY_PLAYBOOKS_DIR);
  {
    const pb = playbooks.get(id);
    if (!pb) {
      io.err(`no playbook "${id}"; \`belay playbooks list\` shows them all`);
      return 1;
    }
    if (values.json) {
      io.out(JSON.stringify({ id: pb.id, title: pb.title, summary: pb.summary, failureModes: pb.failureModes, permissions: permissionsOf(pb), params: describeParams(pb.params), plan: buildPlan(pb, {}) }, null, 2));
      return 0;
    }
    io.out(`${pb.title}\n${pb.summary}\n`);
    io.out(`failure modes: ${pb.failureModes.join(", ") || "(none)"}`);
    io.out(`permissions:   ${permissionsOf(pb).join(", ") || "(none)"}`);
    io.out("params:");
    for (const p of describeParams(pb.params)) {
      io.out(`  ${p.name}: ${p.type}${p.required ? " (required)" : ""}${p.default !== undefined ? ` = ${JSON.stringify(p.default)}` : ""}${p.options ? ` [${p.options.join("|")}]` : ""}${p.secret ? " (secret)" : ""}`);
    }
    io.out("");
    io.out(renderPlan(buildPlan(pb, {})));
    return 0;
  }
}
