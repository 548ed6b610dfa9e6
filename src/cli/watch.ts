import { eventsForRun } from "../audit/chain.ts";
import type { Engine, RunView } from "../execute/engine.ts";
import type { CliIo } from "./io.ts";

/** How often a waiting prompt looks at the store for decisions made elsewhere. */
export const WATCH_MS = 1_000;

const DECISIONS = new Set(["step.approved", "step.denied", "step.skipped", "step.decided", "run.abort_requested", "run.aborted", "run.denied"]);

/**
 * Asks at a gate while watching the run: when someone decides elsewhere (another terminal,
 * Slack) the question ends, says who did what, and returns "elsewhere" so the caller looks
 * at the run again. Another approval that is not yet enough leaves the question open, noted.
 */
export async function askWatching(engine: Engine, shown: RunView, step: string, io: CliIo, question: string): Promise<string | null | "elsewhere"> {
  const stop = new AbortController();
  const approvalsAtStart = shown.approvals.length;
  let noted = approvalsAtStart;
  let elsewhere: string | null = null;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const now = await engine.view(shown.run.id);
      const s = now.steps.find((x) => x.name === step);
      const moved = now.run.status !== shown.run.status || s?.status !== shown.steps.find((x) => x.name === step)?.status || now.run.abortRequested !== null;
      if (moved) {
        elsewhere = await describeElsewhere(engine, now, step);
        stop.abort();
      } else if (now.approvals.length > noted) {
        const who = now.approvals.slice(noted).map((a) => `${a.actor} (${a.surface})`);
        noted = now.approvals.length;
        io.out(`\n${who.join(", ")} approved ${step} elsewhere; more approvals are still needed`);
      }
    })()
      .catch(() => undefined) // a failed look is retried on the next tick; the question stays
      .finally(() => (busy = false));
  }, WATCH_MS);
  timer.unref?.();
  try {
    const answer = await io.ask(question, { signal: stop.signal });
    if (elsewhere !== null) {
      io.out(elsewhere);
      return "elsewhere";
    }
    return answer;
  } finally {
    clearInterval(timer);
  }
}

async function describeElsewhere(engine: Engine, view: RunView, step: string): Promise<string> {
  const events = await eventsForRun(engine.deps.db, view.run.id);
  const last = [...events].reverse().find((e) => DECISIONS.has(e.kind));
  const what = last ? `${last.kind.replace(/^(step|run)\./, "").replace(/_/g, " ")} by ${last.actor} (${last.surface})` : `run is now ${view.run.status}`;
  return `Decided elsewhere: ${step} ${what}. This prompt is closed; the run is now ${view.run.status}.`;
}
