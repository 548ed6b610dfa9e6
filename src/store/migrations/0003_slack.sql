-- The Slack surface: which message shows what, and the opaque ids behind its buttons.

-- One Slack message per key ("run:<id>", "incident:<id>", ...). The row is written before
-- the message is posted (ts NULL) and completed with its ts after: a key that already has a
-- row is never posted again, by this process or another one, so nothing is posted twice.
CREATE TABLE slack_messages (
  key        text PRIMARY KEY,
  channel    text NOT NULL,
  thread_ts  text,
  ts         text,
  run_id     text,
  -- What the message shows besides the run (incident, alert, failure mode and reasons).
  context    jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX slack_messages_run ON slack_messages (run_id) WHERE run_id IS NOT NULL;

-- A button's value is only `token`: what it acts on lives here, never in the client.
CREATE TABLE slack_action_tokens (
  token      text PRIMARY KEY,
  action     text NOT NULL,
  -- What the token is bound to (run, step, plan hash, attempt...), as one comparable string.
  subject    text NOT NULL,
  run_id     text,
  step_idx   integer,
  plan_hash  text,
  incident_id text,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
-- Re-rendering a message reuses the live token of the same button (found by action and subject).
CREATE INDEX slack_action_tokens_subject ON slack_action_tokens (action, subject, expires_at);

-- Who has used which token: a replayed request or a second click of the same button by the
-- same person is refused here, before the engine is asked.
CREATE TABLE slack_action_uses (
  token   text NOT NULL REFERENCES slack_action_tokens (token),
  user_id text NOT NULL,
  used_at timestamptz NOT NULL,
  PRIMARY KEY (token, user_id)
);
