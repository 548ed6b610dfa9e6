import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * No Docker engine runs here, so the build context is worked out the way Docker does from
 * .dockerignore (patterns on paths relative to the context; `*` stays within one segment,
 * `**` spans any; a pattern matching a parent directory matches what is inside; `!`
 * re-includes; the last matching pattern decides), and checked both ways: nothing private
 * or bulky goes in, everything the Dockerfile COPYs does.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function toRegex(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      // `**/` matches zero or more directories; a trailing `**` matches anything.
      if (pattern[i + 2] === "/") {
        re += "(?:.*/)?";
        i += 2;
      } else {
        re += ".*";
        i += 1;
      }
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function parseIgnore(text: string): { negate: boolean; re: RegExp }[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const p = (negate ? l.slice(1) : l).replace(/^\/+/, "").replace(/\/+$/, "");
      return { negate, re: toRegex(p) };
    });
}

function isIgnored(rules: { negate: boolean; re: RegExp }[], path: string): boolean {
  const parts = path.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
  return ignored;
}

const rules = parseIgnore(readFileSync(join(ROOT, ".dockerignore"), "utf8"));
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const copied = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
const tracked = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);

describe(".dockerignore", () => {
  it("the matcher follows Docker's rules", () => {
    const r = parseIgnore("*\n!src/\n**/*.test.ts\n");
    expect(isIgnored(r, "README.md")).toBe(true);
    expect(isIgnored(r, "src/a/b.ts")).toBe(false);
    expect(isIgnored(r, "src/a/b.test.ts")).toBe(true);
    expect(isIgnored(parseIgnore("node_modules"), "node_modules/x/index.js")).toBe(true);
    expect(isIgnored(parseIgnore("node_modules"), "src/node_modules/x.js")).toBe(false);
  });

  it("keeps out dependencies, data, env files, git, tests and benchmarks", () => {
    for (const p of [
      "node_modules/pg/package.json",
      "src/node_modules/x.js",
      ".belay/pgdata/PG_VERSION",
      ".env",
      ".env.local",
      "src/.env",
      ".git/HEAD",
      "test/unit/rbac.test.ts",
      "test/fixtures/alerts/a.json",
      "bench/ingest.ts",
      "coverage/index.html",
      "npm-debug.log",
      "deploy/secret.example.yaml",
      ".ci/run",
      "src/foo.test.ts",
    ]) {
      expect(isIgnored(rules, p), p).toBe(true);
    }
  });

  it("sends everything the Dockerfile COPYs", () => {
    expect(copied).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "bin", "src", "playbooks", "runbooks", "tsconfig.json"]));
    for (const c of copied) {
      const files = tracked.filter((f) => f === c || f.startsWith(`${c}/`));
      expect(files.length, c).toBeGreaterThan(0);
      for (const f of files) expect(isIgnored(rules, f), f).toBe(false);
    }
  });

  it("checks readiness, not only liveness, as the image's HEALTHCHECK", () => {
    const health = /HEALTHCHECK[\s\S]*?CMD (.+)$/m.exec(dockerfile)?.[1] ?? "";
    expect(health).toContain("/readyz");
    expect(health).not.toContain("/healthz");
  });
});
