import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { helpReply, matchReply } from "../../src/slack/blocks/replies.ts";
import { nearSubcommand, parseCommand, SUBCOMMANDS, subcommandOf } from "../../src/slack/command.ts";

describe("/runbook subcommands", () => {
  it("text that is not a subcommand is matched as alert text", () => {
    expect(parseCommand("redis OOM command not allowed")).toEqual({ kind: "match", text: "redis OOM command not allowed" });
    expect(parseCommand("RedisOutOfConfiguredMaxmemory instance=cache-1")).toEqual({ kind: "match", text: "RedisOutOfConfiguredMaxmemory instance=cache-1" });
    expect(parseCommand("alertname=KubePodCrashLooping namespace=shop")).toEqual({ kind: "match", text: "alertname=KubePodCrashLooping namespace=shop" });
    expect(parseCommand("restart everything now")).toEqual({ kind: "match", text: "restart everything now" });
    // One word close to a subcommand: matched, and the reply asks whether the subcommand was meant.
    expect(parseCommand("stats")).toEqual({ kind: "match", text: "stats", near: "status" });
    expect(parseCommand("histroy")).toEqual({ kind: "match", text: "histroy", near: "history" });
    expect(nearSubcommand("redis")).toBeNull();
  });

  it("a mistyped subcommand followed by a run or incident id still gets the hint (a typo of abort must not pass unnoticed)", () => {
    // Before: matched as alert text with no hint, so `/runbook abrot run_...` left the run going without a word.
    expect(parseCommand("abrot run_01HZX4 it is making it worse")).toEqual({ kind: "match", text: "abrot run_01HZX4 it is making it worse", near: "abort" });
    expect(parseCommand("stauts run_01HZX4")).toMatchObject({ near: "status" });
    expect(parseCommand("audti inc_01HZX4")).toMatchObject({ near: "audit" });
    // Alert text whose first word is close to a subcommand gets no hint when no id follows.
    expect(parseCommand("shop api crashlooping")).toEqual({ kind: "match", text: "shop api crashlooping" });
  });

  it("every subcommand in the table is recognised by the parser, by name and alias", () => {
    for (const c of SUBCOMMANDS) {
      for (const word of [c.name, ...c.aliases, c.name.toUpperCase()]) {
        expect(subcommandOf(word)).toBe(c.name);
        if (c.name !== "match") expect(parseCommand(`${word} x`).kind).not.toBe("match");
      }
    }
    expect(parseCommand("match <redis> OOM")).toEqual({ kind: "match", text: "<redis> OOM" });
  });

  it("help lists every subcommand from the same table", () => {
    const help = helpReply("/runbook").text;
    for (const c of SUBCOMMANDS.filter((c) => c.name !== "help")) expect(help).toContain(`\`/runbook ${c.usage}\``);
    expect(help).toContain("`/runbook <alert text>`");
  });

  it("the manifest's usage hint lists every subcommand", () => {
    const manifest = parse(readFileSync(new URL("../../slack/manifest.yaml", import.meta.url), "utf8"));
    const [cmd] = manifest.features.slash_commands;
    const hint: string = cmd.usage_hint;
    const named = new Set(hint.split("|").map((part) => part.trim().split(/\s+/)[0]));
    for (const c of SUBCOMMANDS) expect(named, `usage_hint lacks ${c.name}`).toContain(c.name);
    // Slack refuses a usage hint longer than 1000 characters.
    expect(hint.length).toBeLessThanOrEqual(1000);
  });

  it("a near miss says which subcommand it may have meant", () => {
    const r = matchReply({ failureMode: null, candidates: [] } as never, "stats", "/runbook", "status");
    expect(r.text.split("\n")[0]).toBe("`stats` is not a subcommand (did you mean `/runbook status`?), so it was matched as alert text:");
  });
});
