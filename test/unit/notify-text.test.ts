import { describe, expect, it } from "vitest";
import { notifyText, type NotifyStep } from "../../src/execute/notify-text.ts";

const step = (idx: number, name: string, kind: string, status: string, preview: string | null = null): NotifyStep => ({ idx, name, kind, status, preview });

describe("notify text", () => {
  const written = "Restarted shop/api and raised its memory limit.";
  it("sends the playbook's text when every earlier change was made, and when nothing before it changes anything", () => {
    const steps = [step(0, "read", "diagnose", "succeeded"), step(1, "raise", "act", "succeeded"), step(2, "restart", "act", "succeeded"), step(3, "say", "notify", "running")];
    expect(notifyText(written, { idx: 3, dryRun: false, steps, events: [] })).toEqual({ text: written, replaced: false });
    // An act step after the notify has not happened yet; the text speaks of nothing before it.
    expect(notifyText("About to restart.", { idx: 1, dryRun: false, steps: [step(0, "read", "diagnose", "succeeded"), step(1, "say", "notify", "running"), step(2, "restart", "act", "pending")], events: [] }).replaced).toBe(false);
  });

  it("one change made, one skipped by a person: says which, and does not send the claim of both", () => {
    const steps = [step(0, "raise", "act", "succeeded"), step(1, "restart", "act", "skipped"), step(2, "say", "notify", "running")];
    const events = [{ kind: "step.skipped", step: "restart", actor: "bob", surface: "slack", data: { reason: "skipped by bob" } }];
    const r = notifyText(written, { idx: 2, dryRun: false, steps, events });
    expect(r.replaced).toBe(true);
    expect(r.text).toBe("Not every change was made: `raise` was changed and verified; `restart` was skipped by bob. The playbook's follow-up is not sent: it was written for changes that did not happen.");
  });

  it("a dry run never claims a change, even for steps that would have succeeded", () => {
    const steps = [step(0, "raise", "act", "previewed", "limits.memory 512Mi -> 1Gi\n- 512Mi\n+ 1Gi"), step(1, "say", "notify", "running")];
    const r = notifyText(written, { idx: 1, dryRun: true, steps, events: [] });
    expect(r.text).toBe("DRY RUN: nothing was changed. `raise` was only previewed (limits.memory 512Mi -> 1Gi). The playbook's follow-up is not sent: it was written for changes that did not happen.");
  });

  it("a change skipped by a person after it was interrupted (uncertain) is not reported as 'nothing was changed'", () => {
    // Before: "Nothing was changed: `restart` was skipped by bob." The change may have reached the
    // target before the interruption; skipping it only settles the step.
    const steps = [step(0, "restart", "act", "skipped"), step(1, "say", "notify", "running")];
    const events = [{ kind: "step.skipped", step: "restart", actor: "bob", surface: "slack", data: { reason: "skipped by bob", was: "uncertain" } }];
    const r = notifyText(written, { idx: 1, dryRun: false, steps, events });
    expect(r.text).not.toMatch(/nothing was changed/i);
    expect(r.text).toBe(
      "Nothing is known to have changed: `restart` was skipped by bob after it was interrupted (its change may have been applied: check the target). The playbook's follow-up is not sent: it was written for changes that did not happen.",
    );
  });
});
