import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BelayError } from "../errors.ts";
import { isDrill, type Drill } from "../sdk/drill.ts";

/** Imports every drill in dir (`playbooks/drills/` by default): one default export each. */
export async function loadDrills(dir: string): Promise<Map<string, Drill>> {
  const abs = resolve(dir);
  let files: string[];
  try {
    files = readdirSync(abs).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw err;
  }
  const byId = new Map<string, Drill>();
  for (const f of files.sort()) {
    const mod = (await import(pathToFileURL(join(abs, f)).href)) as { default?: unknown };
    if (!isDrill(mod.default)) throw new BelayError("playbook.invalid", `${join(dir, f)} must \`export default drill({...})...\``);
    if (byId.has(mod.default.id)) throw new BelayError("playbook.invalid", `${abs}: two drills have the id "${mod.default.id}"`);
    byId.set(mod.default.id, mod.default);
  }
  return byId;
}

/** The drills directory beside the playbooks. */
export const drillsDirOf = (playbooksDir: string) => join(playbooksDir, "drills");

export function getDrill(drills: ReadonlyMap<string, Drill>, id: string): Drill {
  const d = drills.get(id);
  if (!d) throw new BelayError("input.invalid", `no drill "${id}"; known drills: ${[...drills.keys()].sort().join(", ") || "(none)"}`);
  return d;
}
