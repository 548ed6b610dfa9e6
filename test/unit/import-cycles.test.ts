import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * Imports run one way (STYLE.md): no file of src/ may reach itself again through its imports.
 * Every edge counts: `import`, `import type`, `export ... from`, and `import("./x.ts")` with a
 * literal path. Type-only and lazy edges are counted on purpose: the cycle issue 12 named ran
 * through main.ts's lazy `import("./integrations.ts")` and the surfaces' `import type { Core }`
 * back from it, and a type-only cycle is the first step to a runtime one. Only an `import()`
 * whose path is an expression (how playbook files are loaded) cannot be followed.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** Comments out, strings kept: an import specifier is a string. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

// `import x from "…"`, `import type {…} from "…"`, `import "…"`, `export {…} from "…"`, `export * from "…"`.
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^;"'`]*?\s+from\s+)?["']([^"']+)["']/gm;

const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

function importsOf(file: string): string[] {
  const text = stripComments(readFileSync(file, "utf8"));
  const out: string[] = [];
  for (const m of text.matchAll(STATIC_IMPORT)) {
    const spec = m[1]!;
    if (!spec.startsWith(".")) continue; // packages and node: builtins
    out.push(resolve(dirname(file), spec));
  }
  for (const m of text.matchAll(DYNAMIC_IMPORT)) if (m[1]!.startsWith(".")) out.push(resolve(dirname(file), m[1]!));
  return out;
}

/**
 * The groups of files that reach each other (strongly connected components, Tarjan): every
 * file caught in any cycle appears in exactly one group, so one run names them all.
 */
function findCycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    if (group.length > 1 || (graph.get(node) ?? []).includes(node)) groups.push(group.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return groups.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

describe("imports in src/", () => {
  const files = sourceFiles(SRC);
  const known = new Set(files);
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => known.has(t))]));

  it("reads the imports it should (the parser is not blind)", () => {
    const main = graph.get(join(SRC, "main.ts")) ?? [];
    expect(main).toContain(join(SRC, "config.ts")); // `import type { Config } from "./config.ts"`
    expect(main).toContain(join(SRC, "core.ts")); // `export type { Core, Serving } from "./core.ts"`
    expect(main).toContain(join(SRC, "integrations.ts")); // `await import("./integrations.ts")`
    expect(findCycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]))).toEqual([["a", "b", "c"]]);
    expect(findCycles(new Map([["a", ["b"]], ["b", []]]))).toEqual([]);
  });

  it("form no cycle", () => {
    const cycles = findCycles(graph).map((group) => `${group.length} files reach each other: ${group.map((f) => relative(SRC, f)).join(", ")}`);
    expect(cycles, `import cycles in src/ (move the shared types into a file both sides import):\n${cycles.join("\n")}`).toEqual([]);
  });
});
