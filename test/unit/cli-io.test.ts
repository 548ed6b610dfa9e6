import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { processIo } from "../../src/cli/io.ts";

function fake(tty: boolean, env: Record<string, string | undefined> = {}) {
  const stdin = new PassThrough();
  const stdout = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = Object.assign(new PassThrough(), { isTTY: tty });
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d));
  stderr.on("data", (d: Buffer) => (err += d));
  return { io: processIo({ stdin, stdout, stderr, env }), stdin, out: () => out, err: () => err };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("the terminal's io", () => {
  it("a log written while a question waits never lands on the question's line (not a terminal: a newline first)", async () => {
    const t = fake(false);
    const answer = t.io.ask("Approve set-samples? ");
    await tick();
    t.io.logWriter().write('{"level":40,"msg":"slow"}\n');
    t.stdin.write("y\n");
    expect(await answer).toBe("y");
    expect(t.err()).toBe('\n{"level":40,"msg":"slow"}\n');
    t.io.logWriter().write("after\n");
    expect(t.err()).toMatch(/slow"}\nafter\n$/); // no prompt: written as is
    t.io.close();
  });

  it("on a terminal the question's line is cleared, the log written, and the question drawn again", async () => {
    const t = fake(true);
    const answer = t.io.ask("Approve set-samples? ");
    await tick();
    const before = t.out().length;
    t.io.logWriter().write("a log line\n");
    expect(t.out().slice(before)).toBe("\r\x1b[2KApprove set-samples? ");
    expect(t.err()).toBe("a log line\n");
    t.stdin.write("n\n");
    expect(await answer).toBe("n");
    t.io.close();
  });

  it("a question ended by a decision elsewhere answers null", async () => {
    const t = fake(false);
    const stop = new AbortController();
    const answer = t.io.ask("Approve? ", { signal: stop.signal });
    await tick();
    stop.abort();
    expect(await answer).toBe(null);
    t.io.close();
  });

  it("colour only on a terminal, and never with NO_COLOR", () => {
    expect(fake(true).io.color).toBe(true);
    expect(fake(true, { NO_COLOR: "1" }).io.color).toBe(false);
    expect(fake(false).io.color).toBe(false);
  });
});
