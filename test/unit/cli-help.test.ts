import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { memoryIo } from "../../src/cli/io.ts";
import { runCli } from "../../src/cli/main.ts";
import { buildProgram, examplesOf } from "../../src/cli/program.ts";

/** Every command of the tree, with the words that reach it: [["serve"], ["drill", "run"], ...]. */
function walk(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()], cmd: c }, ...walk(c, [...path, c.name()])]);
}

async function cli(argv: string[]) {
  const io = memoryIo({});
  const code = await runCli(argv, io);
  return { code, out: io.outLines.join("\n"), err: io.errLines.join("\n") };
}

describe("belay's command tree (commander)", () => {
  const program = buildProgram({ io: memoryIo({}) }, () => {});
  const all = walk(program);

  it("has every command the issue names", () => {
    const names = all.map((c) => c.path.join(" "));
    for (const n of ["serve", "run", "approve", "deny", "skip", "retry", "abort", "runs", "status", "match", "audit verify", "audit export", "audit sign", "docs", "drill list", "drill run", "drill abort", "drill report", "drill runs", "incidents", "incidents list", "incidents show", "postmortem", "retriage", "playbooks list", "playbooks show", "help"]) {
      expect(names).toContain(n);
    }
  });

  it.each(all.map((c) => [c.path.join(" "), c] as const))("`belay %s` has a description and an example, and answers -h and --help with exit 0", async (_name, { path, cmd }) => {
    expect(cmd.description().length).toBeGreaterThan(5);
    expect(examplesOf(cmd).length).toBeGreaterThan(0);
    for (const flag of ["-h", "--help"]) {
      const r = await cli([...path, flag]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: belay ${path.join(" ")}`);
      expect(r.out).toMatch(/Examples?:\n {2}\$ belay/);
      expect(r.out).toContain("Exit codes:");
      expect(r.err).toBe("");
    }
  });

  it("`belay help` names every command and the options the old help left out, and the exit codes", async () => {
    const r = await cli(["help"]);
    expect(r.code).toBe(0);
    const block = (usage: string) => {
      const start = r.out.indexOf(`\n  belay ${usage}`);
      expect(start, usage).toBeGreaterThan(-1);
      const end = r.out.indexOf("\n\n", start + 2);
      return r.out.slice(start, end);
    };
    for (const { path } of all.filter((c) => c.path[0] !== "help")) expect(r.out).toContain(`belay ${path.join(" ")}`);
    expect(block("runs")).toContain("--json");
    expect(block("status")).toContain("--json");
    expect(block("audit verify")).toContain("--json");
    expect(block("audit export")).toContain("--json");
    expect(block("run [options] <playbook>")).toContain("--incident <id>");
    const approve = block("approve");
    for (const o of ["--plan <hash>", "--no-wait", "--reason <text>", "--as <person>"]) expect(approve).toContain(o);
    expect(block("serve")).toContain("--host <address>");
    expect(r.out).toContain("belay drill abort");
    expect(r.out).toContain("belay drill report");
    expect(r.out).toMatch(/3 {2}parked/);
    expect(r.out).toMatch(/2 {2}usage error/);
    // hidden, refused-by-name options are not advertised
    expect(r.out).not.toContain("--group");
    expect((await cli(["help", "drill", "run"])).out).toContain("Usage: belay drill run");
  });

  it("`belay -h` and `belay --help` list the commands with exit 0; bare `belay` prints them on stderr with exit 2", async () => {
    for (const flag of ["-h", "--help"]) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toContain("Usage: belay <command> [options]");
      expect(r.out).toContain("incidents");
      expect(r.out).toContain("Exit codes:");
    }
    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.err).toContain("Usage: belay");
  });

  it("usage errors exit 2 and suggest the command or option meant", async () => {
    const typo = await cli(["aprove", "run_x", "step"]);
    expect(typo.code).toBe(2);
    expect(typo.err).toContain("unknown command 'aprove'");
    expect(typo.err).toContain("Did you mean approve?");
    const opt = await cli(["runs", "--limt", "3"]);
    expect(opt.code).toBe(2);
    expect(opt.err).toContain("Did you mean --limit?");
    expect((await cli(["status"])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
  });
});

describe("the examples in belay's help", () => {
  it("every `belay run` example names a playbook of the library and only params it takes", async () => {
    const { loadPlaybooks } = await import("../../src/plan/registry.ts");
    const library = await loadPlaybooks(new URL("../../playbooks", import.meta.url).pathname);
    const program = buildProgram({ io: memoryIo({}) }, () => {});
    const examples = walk(program).flatMap(({ cmd }) => examplesOf(cmd)).filter((e) => e.startsWith("belay run "));
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const words = example.split(/\s+/);
      const pb = library.get(words[2]!);
      expect(pb, example).toBeDefined();
      const takes = Object.keys((pb!.params as unknown as { shape: Record<string, unknown> }).shape);
      const given = words.flatMap((w, i) => (w === "-p" || w === "--param" ? [words[i + 1]!.split("=")[0]!] : []));
      for (const name of given) expect(takes, `${example}: ${name}`).toContain(name);
    }
  });
});
