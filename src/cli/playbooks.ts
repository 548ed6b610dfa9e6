import { parseArgs } from "node:util";
import { describeParams } from "../plan/bind.ts";
import { buildPlan, permissionsOf } from "../plan/plan.ts";
import { loadPlaybooks } from "../plan/registry.ts";
import { renderPlan } from "./render.ts";
import { configFrom, UsageError, type CliIo } from "./io.ts";

export async function playbooksCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const config = configFrom(io);
  const playbooks = await loadPlaybooks(config.env.BELAY_PLAYBOOKS_DIR);
  if (sub === "list") {
    const { values } = parseArgs({ args: rest, options: { json: { type: "boolean" } } });
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
  if (sub === "show") {
    const id = rest[0];
    if (!id) throw new UsageError("usage: belay playbooks show ID");
    const pb = playbooks.get(id);
    if (!pb) {
      io.err(`no playbook "${id}"; \`belay playbooks list\` shows them all`);
      return 1;
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
  throw new UsageError("usage: belay playbooks list [--json] | belay playbooks show ID");
}
