import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { BelayError } from "../errors.ts";

/**
 * A playbook file that throws (or does not compile) while it is imported, said in one line:
 * which file, where in it when the error tells (line:col), what it said, and what to do.
 * The stack is not printed; the position is taken from it.
 */
export function playbookLoadError(file: string, err: unknown): BelayError {
  const e = err as { message?: unknown; stack?: unknown; name?: unknown } | null;
  const rawMessage = typeof e?.message === "string" ? e.message : String(err);
  const position = positionIn(file, typeof e?.stack === "string" ? e.stack : "") ?? positionIn(file, rawMessage);
  const what = summarise(rawMessage, file);
  const code = (err as { code?: unknown } | null)?.code;
  // A .ts file outside an ES module package is loaded as CommonJS, and its `import`s then fail
  // with Node's require(esm) wording, which names no cause a person can act on.
  if (code === "ERR_REQUIRE_CYCLE_MODULE" || code === "ERR_REQUIRE_ESM" || /require\(\) (of )?ES Module/.test(rawMessage)) {
    return new BelayError(
      "playbook.invalid",
      `playbook ${file} cannot be loaded: its directory is not part of an ES module package, so Node loads it as CommonJS; put a package.json containing {"type": "module"} beside the playbooks (or in a parent directory)`,
      { cause: err, details: { file } },
    );
  }
  const kind = e?.name === "TransformError" || e?.name === "SyntaxError" ? "does not compile" : "threw while loading";
  return new BelayError(
    "playbook.invalid",
    `playbook ${file}${position ? `:${position}` : ""} ${kind}: ${what}; fix it, or move it out of BELAY_PLAYBOOKS_DIR`,
    { cause: err, details: { file, position } },
  );
}

/** line:col of the first stack frame (or esbuild message) inside the file itself. */
function positionIn(file: string, text: string): string | null {
  for (const line of text.split("\n")) {
    for (const m of line.matchAll(/((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)/g)) {
      let path = m[1]!;
      if (path.startsWith("file://")) {
        try {
          path = fileURLToPath(path);
        } catch {
          continue;
        }
      }
      if (path === file || (path.endsWith(`/${basename(file)}`) && file.endsWith(path))) return `${m[2]}:${m[3]}`;
    }
  }
  return null;
}

/** The message on one line, without the file name repeated by esbuild. */
function summarise(message: string, file: string): string {
  const lines = message
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^Transform failed with \d+ error/.test(l));
  const first = (lines[0] ?? "no message").replace(new RegExp(`^${escape(file)}:\\d+:\\d+:\\s*`), "").replace(/^ERROR:\s*/, "");
  return first.length > 300 ? `${first.slice(0, 297)}...` : first;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
