import { describe, expect, it } from "vitest";
import { createLane } from "../../src/targets/lane.ts";

describe("lane: one task at a time", () => {
  it("runs tasks in order, never two at once, and drops a waiting task whose signal aborts", async () => {
    const lane = createLane();
    const seen: string[] = [];
    let open = () => {};
    const first = lane.run(undefined, () => new Promise<string>((r) => (open = () => r("first"))).then((v) => (seen.push(v), v)));
    const ac = new AbortController();
    const second = lane.run(ac.signal, async () => (seen.push("second"), "second"));
    const third = lane.run(undefined, async () => (seen.push("third"), "third"));
    ac.abort(new Error("second aborted"));
    await expect(second).rejects.toThrow("second aborted"); // at once, while the first still runs
    expect(seen).toEqual([]);
    open();
    expect(await first).toBe("first");
    expect(await third).toBe("third");
    expect(seen).toEqual(["first", "third"]);
  });

  it("a task that throws frees the lane; an already aborted signal never queues", async () => {
    const lane = createLane();
    await expect(lane.run(undefined, () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(await lane.run(undefined, async () => 1)).toBe(1);
    const ac = new AbortController();
    ac.abort(new Error("gone"));
    await expect(lane.run(ac.signal, async () => 2)).rejects.toThrow("gone");
  });
});
