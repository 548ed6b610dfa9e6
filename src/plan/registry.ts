import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BelayError } from "../errors.ts";
import { isPlaybook, type AnyPlaybook } from "../sdk/playbook.ts";
import { playbookLoadError } from "./load-error.ts";
import { recordPlaybookSource } from "./plan.ts";

const ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** Checks what the type system cannot: ids, duplicate ids, act steps' declarations. */
export function checkPlaybooks(list: readonly AnyPlaybook[], source = "playbooks"): Map<string, AnyPlaybook> {
  const byId = new Map<string, AnyPlaybook>();
  for (const pb of list) {
    if (!ID.test(pb.id)) throw new BelayError("playbook.invalid", `${source}: playbook id "${pb.id}" must be kebab-case (a-z, 0-9, -)`);
    if (byId.has(pb.id)) throw new BelayError("playbook.invalid", `${source}: two playbooks have the id "${pb.id}"`);
    if (pb.steps.length === 0) throw new BelayError("playbook.invalid", `${source}: playbook ${pb.id} has no steps`);
    for (const s of pb.steps) {
      if (s.kind === "act" && s.permissions.length === 0) {
        throw new BelayError("playbook.invalid", `${source}: act step ${pb.id}/${s.name} must declare the permissions it needs`);
      }
    }
    byId.set(pb.id, pb);
  }
  return byId;
}

/** Imports every playbook file in dir (one default export each; drills/ and tests are skipped). */
export async function loadPlaybooks(dir: string): Promise<Map<string, AnyPlaybook>> {
  const abs = resolve(dir);
  let files: string[];
  try {
    files = readdirSync(abs).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"));
  } catch (err) {
    throw new BelayError("playbook.invalid", `BELAY_PLAYBOOKS_DIR is not valid: cannot read the playbooks directory ${abs} (${(err as NodeJS.ErrnoException).code}); point BELAY_PLAYBOOKS_DIR at the directory of playbook files`);
  }
  const list: AnyPlaybook[] = [];
  for (const f of files.sort()) {
    const file = join(abs, f);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (err) {
      throw playbookLoadError(file, err);
    }
    if (!isPlaybook(mod.default)) {
      throw new BelayError("playbook.invalid", `${join(dir, f)} must \`export default playbook({...})...\``);
    }
    recordPlaybookSource(mod.default, readFileSync(join(abs, f), "utf8"));
    list.push(mod.default);
  }
  return checkPlaybooks(list, abs);
}
