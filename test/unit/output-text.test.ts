import { describe, expect, it } from "vitest";
import { outputText } from "../../src/execute/output-text.ts";

describe("outputText", () => {
  it("lists of records become one line each, with sizes in units and the rest counted", () => {
    const keys = Array.from({ length: 12 }, (_, i) => ({ key: `k:${i}`, type: "hash", bytes: 2048 * (i + 1) }));
    const text = outputText({ keys, scanned: 900, complete: true });
    expect(text.split("\n")).toEqual([
      "keys (12):",
      ...keys.slice(0, 10).map((k) => `  • key=${k.key}, type=hash, bytes=${(k.bytes / 1024).toFixed(1)} KiB`),
      "  … and 2 more",
      "scanned: 900",
      "complete: true",
    ]);
  });

  it("is cut only between whole lines, and says how many it left out", () => {
    const text = outputText(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`field${i}`, `value number ${i}`])), { maxChars: 200 });
    expect(text.length).toBeLessThanOrEqual(200);
    const lines = text.split("\n");
    expect(lines.at(-1)).toMatch(/^… \d+ more lines$/);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(/^field\d+: value number \d+$/);
  });

  it("a long string value ends at a word with an ellipsis; a used ratio is a percentage", () => {
    const text = outputText({ query: `select ${"a, ".repeat(200)}b from t`, usedRatio: 0.934 }, { maxValueChars: 40 });
    expect(text).toMatch(/^query: select (a, )+a?,?…\nusedRatio: 93\.4%$/);
  });

  it("nothing, and plain text", () => {
    expect(outputText(null)).toBe("(no output)");
    expect(outputText("line one\nline two")).toBe("line one\nline two");
  });
});
