-- Game-day drills: one row per drill run. The row is the durable record of what a drill
-- injected and how to undo it: `undo` is written BEFORE each injection runs, so a belay that
-- crashed mid-drill (or was killed) can undo it on its next start.
CREATE TABLE drill_runs (
  id               text PRIMARY KEY,
  drill_id         text NOT NULL,
  mode             text NOT NULL CHECK (mode IN ('live', 'rehearsal')),
  target           text NOT NULL,
  status           text NOT NULL CHECK (status IN ('running', 'undoing', 'passed', 'failed', 'aborted', 'crashed')),
  status_reason    text,
  -- Undo state per injection, in injection order: [{ name, state, injected, undone }].
  undo             jsonb NOT NULL DEFAULT '[]',
  -- Whoever asked to stop it (CLI, Slack): the runner sees it on its next tick.
  abort_requested  text,
  incident_id      text,
  run_id           text,
  -- The process working the drill; a lapsed lease means it died and its injection needs undoing.
  lease_owner      text,
  lease_expires_at timestamptz,
  started_by       text NOT NULL,
  report           jsonb,
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz
);
-- Trends read earlier runs of the same drill, newest first.
CREATE INDEX drill_runs_drill ON drill_runs (drill_id, started_at DESC);
-- Recovery looks for drills still holding an injection: partial, so finished ones cost nothing.
CREATE INDEX drill_runs_open ON drill_runs (lease_expires_at) WHERE status IN ('running', 'undoing');
